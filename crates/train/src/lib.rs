//! sedge's built-in trainers, so an edge box trains without Python. Pure: data comes in as a reader or slices,
//! models go out as values; the CLI and the gateway do the files, jobs and registry.
//!
//! # Layout
//! - [`data`]: a CSV file as a numeric training set (one-hot categoricals), with errors naming line and column.
//! - [`gbdt`]: gradient-boosted trees (squared error or logistic), XGBoost's second-order exact greedy method.
//! - [`onnx`]: a trained ensemble as an `ai.onnx.ml` `TreeEnsembleRegressor` model any ONNX runtime serves.

pub mod data;
pub mod gbdt;
pub mod onnx;

//! sedge's built-in trainers, so an edge box trains without Python. Pure: data comes in as a reader or slices,
//! models go out as values; the CLI and the gateway do the files, jobs and registry.
//!
//! # Layout
//! - [`data`]: a CSV file as a numeric training set (one-hot categoricals), with errors naming line and column.
//! - [`idx`]: MNIST's IDX files (images and labels, gzipped or not), with errors naming the byte offset.
//! - [`gbdt`]: gradient-boosted trees (squared error or logistic), XGBoost's second-order method, exact greedy or
//!   histogram splits.
//! - [`onnx`]: a trained ensemble as an `ai.onnx.ml` `TreeEnsembleRegressor` model any ONNX runtime serves.
//! - [`nn`]: neural networks (MLP, small CNN) with hand-written backprop, Adam, and ONNX export.

pub mod data;
pub mod gbdt;
pub mod idx;
pub mod nn;
pub mod onnx;

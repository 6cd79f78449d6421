//! `sedge bench`'s pure core: what to send when, what to record, and how to report it.
//!
//! This crate does **not** send requests, spawn tasks or read clocks: offsets are `Duration`s from the test
//! start that the runner (in the CLI) measures and passes in, so every decision here is a plain function.
//!
//! # Layout
//! - [`parse`]: [`parse::ParseError`] and Go-style durations, shared by the parsers below.
//! - [`plan`]: the closed model, k6's `ramping-vus` stages (`30s:10,1m:10,10s:0`) and the VU count at an offset.
//! - [`arrival`]: the open model, rates (`5000/s`) and rate ramps into an exact [`arrival::Schedule`] of sends.
//! - [`record`]: one request's [`record::Outcome`]; the [`record::Recorder`] (HDR histograms, all/cold/warm)
//!   and its [`record::Summary`].
//! - [`timeline`]: the same requests second by second (counts, errors, cold starts, latency percentiles).
//! - [`tensor`]: generated OIP v2 infer requests (`--tensor input:FP32:1x1x28x28`).
//! - [`threshold`]: k6-style pass/fail thresholds (`p95<50ms`, `errors<0.1%`) checked against a summary.
//! - [`scrape`]: one metric's samples from a Prometheus `/metrics` page (sedge's ready replicas).
//! - [`report`]: a report as data (seed-vs-sedge comparison, tables, charts) for HTML, CSV and JSON.
//! - [`run_report`]: the report of one plain `sedge bench` run (`--html`).
//! - [`out`]: report formats: JMeter JTL rows, InfluxDB line protocol, the JSON summary, k6-style text, the
//!   HTML report with SVG charts, CSV tables.

pub mod arrival;
pub mod out;
pub mod parse;
pub mod plan;
pub mod record;
pub mod report;
pub mod run_report;
pub mod scrape;
pub mod tensor;
pub mod threshold;
pub mod timeline;

//! Report formats, each a pure function from outcomes or a summary to text or JSON; the runner writes them.
//!
//! # Layout
//! - [`jtl`]: JMeter's default CSV results layout, one row per request (for JMeter's report tools).
//! - [`influx`]: InfluxDB 1.x line protocol with k6's measurement names, three lines per request.
//! - [`json`]: the end-of-test summary and threshold verdicts as one JSON document.
//! - [`text`]: k6-style end-of-test summary for a terminal, and the number formats the others share.

pub mod influx;
pub mod json;
pub mod jtl;
pub mod text;

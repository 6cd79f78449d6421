//! Report formats, each a pure function from outcomes, a summary or a [`crate::report::Report`] to text or JSON;
//! the runner writes them.
//!
//! # Layout
//! - [`jtl`]: JMeter's default CSV results layout, one row per request (for JMeter's report tools).
//! - [`influx`]: InfluxDB 1.x line protocol with k6's measurement names, three lines per request.
//! - [`json`]: the end-of-test summary and threshold verdicts as one JSON document.
//! - [`text`]: k6-style end-of-test summary for a terminal, and the number formats the others share.
//! - [`html`]: a report as one self-contained HTML page (inline style, no scripts or external resources).
//! - [`svg`]: one chart as inline SVG, for [`html`]: axes with round ticks, legend, lines or grouped bars.
//! - [`csv`]: a report table as CSV (RFC 4180 quoting).
//! - [`markdown`]: a report's facts and tables as Markdown pipe tables.

pub mod csv;
pub mod html;
pub mod influx;
pub mod json;
pub mod jtl;
pub mod markdown;
pub mod svg;
pub mod text;

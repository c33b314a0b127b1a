//! A run's report for people: a self-contained HTML page (see [`html`])
//! drawn from the run's result and the per-second series ([`series`]) that
//! the JSON result carries too.
//!
//! - [`series`]: throughput and latency per second, from the history (pure).
//! - [`chart`]: inline SVG line charts with fault windows shaded.
//! - [`html`]: the page for one run or a suite, every string escaped.

pub mod chart;
pub mod html;
pub mod series;

use std::path::Path;

use anyhow::Context as _;

use super::RunResult;

/// Writes the HTML report of `runs` (one run, or a suite's) to `path`.
pub fn write_html(path: &Path, runs: &[RunResult]) -> anyhow::Result<()> {
    std::fs::write(path, html::page(runs)).with_context(|| format!("cannot write the report {}", path.display()))
}

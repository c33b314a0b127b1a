//! The HTML report: one self-contained page (inline CSS and SVG, no script,
//! nothing fetched) for one run or a suite. A suite's page opens with an
//! index of its runs; each run has its own section: verdict, reproduce
//! command, counts, throughput and latency charts with the fault windows
//! shaded, the faults and one row per checker.

use std::fmt::Write as _;

use super::chart::{Chart, Line};
use super::series::Second;
use crate::chaos::RunResult;

/// The page's style sheet.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:64em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}\
.pass{color:#176b2c;font-weight:bold}.fail{color:#b3261e;font-weight:bold}\
pre{background:#f4f4f4;padding:.5em;overflow-x:auto}\
.chart{display:block;margin:.3em 0}.chart .axis{stroke:#888;fill:none}.chart .grid{stroke:#ddd;fill:none}.chart .line{fill:none;stroke-width:1.5}\
.chart .fault{fill:#f5a623;fill-opacity:.25}.chart .fault-label{font-size:10px;fill:#8a5a00}.chart .tick{font-size:10px;fill:#555}\
.legend{font-size:.9em}section{border-top:2px solid #ddd;margin-top:2em}";

/// Escapes `text` for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The verdict as a word with its CSS class.
fn verdict(passed: bool) -> &'static str {
    if passed { r#"<span class="pass">PASS</span>"# } else { r#"<span class="fail">FAIL</span>"# }
}

/// The whole page for `runs` (one run, or a suite's): an index when there
/// is more than one, then a section per run.
pub fn page(runs: &[RunResult]) -> String {
    let passed = runs.iter().all(|r| r.passed);
    let title = match runs {
        [one] => format!("chaos {} seed {}", one.scenario, one.seed),
        _ => format!("chaos suite: {} of {} runs passed", runs.iter().filter(|r| r.passed).count(), runs.len()),
    };
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{} {}</h1>",
        escape(&title),
        escape(&title),
        verdict(passed)
    );
    if runs.len() > 1 {
        html.push_str("<table><tr><th>run</th><th>verdict</th><th>ops</th><th>reproduce</th></tr>");
        for (index, run) in runs.iter().enumerate() {
            let _ = write!(
                html,
                "<tr><td><a href=\"#run-{index}\">{}</a></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&run.scenario),
                verdict(run.passed),
                run.ops,
                escape(&run.reproduce)
            );
        }
        html.push_str("</table>");
    }
    for (index, run) in runs.iter().enumerate() {
        section(&mut html, index, run);
    }
    html.push_str("</body></html>\n");
    html
}

/// One run's section.
fn section(html: &mut String, index: usize, run: &RunResult) {
    let _ = write!(
        html,
        "<section id=\"run-{index}\"><h2>{} seed {}: {}</h2><p>Reproduce:</p><pre><code>{}</code></pre>",
        escape(&run.scenario),
        run.seed,
        verdict(run.passed),
        escape(&run.reproduce)
    );
    let counts: [(&str, String); 9] = [
        ("seed", run.seed.to_string()),
        ("duration", format!("{} s", run.duration_secs)),
        ("ops", run.ops.to_string()),
        ("ok", run.ok.to_string()),
        ("failed", run.failed.to_string()),
        ("indeterminate", run.indeterminate.to_string()),
        ("indeterminate, applied", run.indeterminate_applied.to_string()),
        ("indeterminate, not applied", run.indeterminate_not_applied.to_string()),
        (
            "workloads",
            format!(
                "{} in {} region(s)",
                run.workloads.iter().map(|w| w.name()).collect::<Vec<_>>().join(", "),
                run.regions
            ),
        ),
    ];
    html.push_str("<table>");
    for (name, value) in counts {
        let _ = write!(html, "<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(&value));
    }
    if let Some(dir) = &run.kept_dir {
        let _ =
            write!(html, "<tr><th>files kept in</th><td><code>{}</code></td></tr>", escape(&dir.display().to_string()));
    }
    html.push_str("</table>");

    for chart in charts(run) {
        let _ = write!(
            html,
            "<h3>{}</h3><div class=\"legend\">{}</div>{}",
            escape(chart.title),
            chart.legend(),
            chart.svg()
        );
    }

    html.push_str("<h3>Faults</h3>");
    if run.faults.is_empty() {
        html.push_str("<p>none</p>");
    } else {
        html.push_str("<table><tr><th>fault</th><th>nodes</th><th>from (s)</th><th>to (s)</th></tr>");
        for window in &run.faults {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td></tr>",
                escape(window.fault),
                window.nodes.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                window.start_us as f64 / 1e6,
                window.end_us as f64 / 1e6
            );
        }
        html.push_str("</table>");
    }

    html.push_str("<h3>Checkers</h3><table><tr><th>checker</th><th>verdict</th><th>detail</th></tr>");
    for checked in &run.verdicts {
        let _ = write!(
            html,
            "<tr class=\"checker\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(checked.name),
            verdict(checked.passed),
            escape(&checked.detail)
        );
    }
    html.push_str("</table></section>");
}

/// The throughput and latency charts of `run`, over its seconds (or its
/// fault windows, if they reach further).
fn charts(run: &RunResult) -> [Chart<'_>; 2] {
    let last_fault_s = run.faults.iter().map(|w| w.end_us.div_ceil(1_000_000)).max().unwrap_or(0);
    let seconds = (run.series.len() as u64).max(last_fault_s).max(1);
    let count = |pick: fn(&Second) -> u64| run.series.iter().map(|s| Some(pick(s) as f64)).collect();
    let millis =
        |pick: fn(&Second) -> Option<u64>| run.series.iter().map(|s| pick(s).map(|us| us as f64 / 1e3)).collect();
    [
        Chart {
            title: "Throughput (ops completed per second)",
            unit: "ops/s",
            seconds,
            lines: vec![
                Line { label: "ok", color: "#1a7f37", values: count(|s| s.ok) },
                Line { label: "fail", color: "#cf222e", values: count(|s| s.fail) },
                Line { label: "indeterminate", color: "#8250df", values: count(|s| s.indeterminate) },
            ],
            faults: &run.faults,
        },
        Chart {
            title: "Latency of the ops completed each second",
            unit: "ms",
            seconds,
            lines: vec![
                Line { label: "p50", color: "#0969da", values: millis(|s| s.p50_us) },
                Line { label: "p99", color: "#bc4c00", values: millis(|s| s.p99_us) },
            ],
            faults: &run.faults,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::checker::Verdict;
    use crate::chaos::history::{Op, OpKind, Outcome};
    use crate::chaos::nemesis::FaultWindow;
    use crate::chaos::report::series::per_second;

    fn run(passed: bool) -> RunResult {
        let history: Vec<Op> = (0..20u64)
            .map(|id| Op {
                id,
                region: "chaos".into(),
                client: 0,
                kind: OpKind::Read { sku: "s".into(), warehouse: "w".into(), level: None },
                invoke_us: id * 300_000,
                complete_us: id * 300_000 + 20_000,
                outcome: if id % 5 == 0 { Outcome::Indeterminate } else { Outcome::Ok },
                error: None,
            })
            .collect();
        RunResult {
            scenario: "pause".into(),
            seed: 7,
            duration_secs: 6,
            ops: history.len(),
            ok: 16,
            failed: 0,
            indeterminate: 4,
            indeterminate_applied: 1,
            indeterminate_not_applied: 3,
            faults: vec![
                FaultWindow {
                    fault: "pause",
                    node: 1,
                    nodes: vec![1],
                    start_us: 1_000_000,
                    end_us: 2_500_000,
                    refusal: None,
                },
                FaultWindow {
                    fault: "pause",
                    node: 3,
                    nodes: vec![3],
                    start_us: 4_000_000,
                    end_us: 5_000_000,
                    refusal: None,
                },
            ],
            workloads: vec![crate::chaos::workload::Workload::FlashSale],
            regions: 1,
            levels: Vec::new(),
            verdicts: vec![
                Verdict { name: "no-oversell", passed: true, detail: "4 units reserved".into() },
                Verdict { name: "no-lost-ack", passed, detail: "hold <script>alert(\"x\")</script> & 'y'".into() },
            ],
            passed,
            reproduce: "chaos run --scenario pause --seed 7 --duration 6".into(),
            kept_dir: None,
            series: per_second(&history),
            history,
        }
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn a_run_page_escapes_and_has_its_rows_and_fault_windows() {
        let html = page(&[run(false)]);
        assert!(!html.contains("<script>"), "unescaped detail");
        assert!(html.contains("hold &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"), "{html}");
        assert_eq!(html.matches("<tr class=\"checker\">").count(), 2);
        assert!(
            html.contains("<td>no-oversell</td><td><span class=\"pass\">PASS</span></td><td>4 units reserved</td>")
        );
        assert!(html.contains("<td>no-lost-ack</td><td><span class=\"fail\">FAIL</span></td>"));
        // Two charts, each shading both windows.
        assert_eq!(html.matches("<svg").count(), 2);
        assert_eq!(html.matches("<rect class=\"fault\"").count(), 2 * 2);
        assert!(html.contains("<code>chaos run --scenario pause --seed 7 --duration 6</code>"));
        assert!(html.contains("<h1>chaos pause seed 7 <span class=\"fail\">FAIL</span></h1>"), "{html}");
        // Self-contained: nothing is fetched, nothing runs.
        for outside in ["http://", "https://", "<script", "<link", "src="] {
            assert!(!html.contains(outside), "{outside}");
        }
    }

    #[test]
    fn a_suite_page_indexes_its_runs() {
        let html = page(&[run(true), run(false)]);
        assert!(html.contains("chaos suite: 1 of 2 runs passed"));
        assert!(html.contains("href=\"#run-0\"") && html.contains("href=\"#run-1\""));
        assert!(html.contains("<section id=\"run-0\">") && html.contains("<section id=\"run-1\">"));
        assert_eq!(html.matches("<rect class=\"fault\"").count(), 2 * 2 * 2);
    }
}

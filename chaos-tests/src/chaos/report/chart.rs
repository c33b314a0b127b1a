//! Inline SVG line charts over a run's seconds, with the fault windows
//! shaded and labelled: drawn by hand so the report needs no script and
//! fetches nothing.

use std::fmt::Write as _;

use super::html::escape;
use crate::chaos::nemesis::FaultWindow;

/// Drawing area, in SVG user units.
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 220.0;
/// Room for the axis labels (left, bottom) and the fault labels (top).
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 18.0;
const RIGHT: f64 = 8.0;

/// One line of a chart: a value per second, `None` where there is none
/// (the line breaks there).
#[derive(Clone, Debug)]
pub struct Line {
    /// Its name in the legend.
    pub label: &'static str,
    /// Its colour (a CSS colour).
    pub color: &'static str,
    /// One value per second from 0.
    pub values: Vec<Option<f64>>,
}

/// A chart: lines over `seconds` seconds, the faults shaded behind them.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    /// What it shows (the title above it).
    pub title: &'a str,
    /// The y axis' unit.
    pub unit: &'a str,
    /// Seconds the x axis spans (at least 1).
    pub seconds: u64,
    /// The lines.
    pub lines: Vec<Line>,
    /// The fault windows to shade.
    pub faults: &'a [FaultWindow],
}

impl Chart<'_> {
    /// The chart as an `<svg>` element: one `<rect class="fault">` per
    /// fault window (with its name as a label and a tooltip), one `<path>`
    /// per line, axes with the y maximum and the x extent.
    pub fn svg(&self) -> String {
        let seconds = self.seconds.max(1) as f64;
        let y_max = nice_max(self.lines.iter().flat_map(|l| l.values.iter().flatten().copied()).fold(0.0, f64::max));
        let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let x = |second: f64| LEFT + (second / seconds).clamp(0.0, 1.0) * plot_w;
        let y = |value: f64| TOP + plot_h - (value / y_max).clamp(0.0, 1.0) * plot_h;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#,
            escape(self.title)
        );
        for window in self.faults {
            let (start, end) = (window.start_us as f64 / 1e6, window.end_us as f64 / 1e6);
            let label = format!("{} {} {start:.2}-{end:.2} s", window.fault, window.nodes_label());
            let _ = write!(
                svg,
                r#"<rect class="fault" x="{:.1}" y="{TOP}" width="{:.1}" height="{plot_h}"><title>{}</title></rect><text class="fault-label" x="{:.1}" y="{:.1}">{}</text>"#,
                x(start),
                (x(end) - x(start)).max(1.0),
                escape(&label),
                x(start) + 2.0,
                TOP - 4.0,
                escape(window.fault),
            );
        }
        let _ = write!(
            svg,
            r#"<path class="axis" d="M{LEFT} {TOP} V{:.1} H{:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">0</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{} s</text><text class="tick" x="{:.1}" y="{:.1}">{}</text>"#,
            TOP + plot_h,
            LEFT + plot_w,
            LEFT - 4.0,
            TOP + 8.0,
            format_value(y_max),
            LEFT - 4.0,
            TOP + plot_h,
            LEFT + plot_w,
            HEIGHT - 6.0,
            self.seconds,
            LEFT,
            HEIGHT - 6.0,
            escape(self.unit),
        );
        // A light grid line and label at half height, and a tick every
        // round number of seconds (about eight along the axis).
        let _ = write!(
            svg,
            r#"<path class="grid" d="M{LEFT} {:.1} H{:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            y(y_max / 2.0),
            LEFT + plot_w,
            LEFT - 4.0,
            y(y_max / 2.0) + 3.0,
            format_value(y_max / 2.0),
        );
        let step = nice_max(seconds / 8.0).max(1.0) as u64;
        for second in (step..self.seconds).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
            let at = x(second as f64);
            let _ = write!(
                svg,
                r#"<path class="axis" d="M{at:.1} {:.1} v4"/><text class="tick" x="{at:.1}" y="{:.1}" text-anchor="middle">{second}</text>"#,
                TOP + plot_h,
                TOP + plot_h + 14.0,
            );
        }
        for line in &self.lines {
            let mut d = String::new();
            let mut pen_down = false;
            for (second, value) in line.values.iter().enumerate() {
                match value {
                    // A point at the middle of its second.
                    Some(value) => {
                        let _ = write!(
                            d,
                            "{}{:.1} {:.1} ",
                            if pen_down { "L" } else { "M" },
                            x(second as f64 + 0.5),
                            y(*value)
                        );
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            let _ = write!(
                svg,
                r#"<path class="line" stroke="{}" d="{}"><title>{}</title></path>"#,
                escape(line.color),
                d.trim_end(),
                escape(line.label)
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// The legend: each line's colour and label.
    pub fn legend(&self) -> String {
        self.lines
            .iter()
            .map(|l| {
                format!(r#"<span class="key" style="color:{}">&#9632;</span> {}"#, escape(l.color), escape(l.label))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `max` (1
/// for an empty or zero chart), so the y axis ends on a round number.
fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&v| v >= max).unwrap_or(10.0 * power)
}

/// A value for an axis label: no decimals from 10 on.
fn format_value(value: f64) -> String {
    if value >= 10.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start_s: u64, end_s: u64) -> FaultWindow {
        FaultWindow {
            fault: "pause",
            node: 2,
            nodes: vec![2],
            start_us: start_s * 1_000_000,
            end_us: end_s * 1_000_000,
            refusal: None,
        }
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(nice_max(0.3), 0.5);
    }

    #[test]
    fn lines_break_at_gaps_and_faults_are_shaded() {
        let faults = [window(1, 3), window(5, 6)];
        let chart = Chart {
            title: "t",
            unit: "ops/s",
            seconds: 8,
            lines: vec![Line { label: "ok", color: "green", values: vec![Some(1.0), Some(2.0), None, Some(3.0)] }],
            faults: &faults,
        };
        let svg = chart.svg();
        assert_eq!(svg.matches(r#"<rect class="fault""#).count(), 2, "{svg}");
        assert!(svg.contains("<title>pause node 2 1.00-3.00 s</title>"), "{svg}");
        // Two segments: M L for seconds 0-1, then a fresh M for second 3.
        let path = svg.split(r#"class="line""#).nth(1).unwrap();
        assert_eq!((path.matches('M').count(), path.matches('L').count()), (2, 1), "{path}");
        assert!(chart.legend().contains("ok"));
    }
}

//! The report of `goldfish bench paper`: the results as JSON and CSV, the
//! paper's figures 7–11 as SVG, and a Markdown table of the GoldFish vs
//! stateless ratios next to the numbers the paper reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::results::{Mode, Placement, Results, Row, Workload};

/// What the paper reports, "up to", against its baselines (GoldFish, IoT '24,
/// sections 6.2 and 6.3, figures 7–11). Latency reductions are percent,
/// throughput gains are factors; each with the baseline they were measured
/// against ("" when the paper names none).
struct PaperClaim {
    workload: Workload,
    latency_reduction_pct: &'static [(f64, &'static str)],
    throughput_factor: &'static [(f64, &'static str)],
}

/// The paper's "up to" numbers (sections 6.2 and 6.3).
const PAPER: [PaperClaim; 5] = [
    // Figure 7: sequential message exchange; throughput not reported.
    PaperClaim {
        workload: Workload::Exchange,
        latency_reduction_pct: &[(89.0, "")],
        throughput_factor: &[],
    },
    // Figure 8: chained functions.
    PaperClaim {
        workload: Workload::Chained,
        latency_reduction_pct: &[(85.0, "OpenFaaS"), (79.0, "Spin")],
        throughput_factor: &[(6.8, "OpenFaaS"), (4.7, "Spin")],
    },
    // Figure 9: the workflow.
    PaperClaim {
        workload: Workload::Workflow,
        latency_reduction_pct: &[(86.0, "OpenFaaS"), (80.0, "Spin")],
        throughput_factor: &[(7.4, "OpenFaaS"), (5.4, "Spin")],
    },
    // Figure 10: chained functions, parallel clients.
    PaperClaim {
        workload: Workload::FanoutChained,
        latency_reduction_pct: &[(87.0, "")],
        throughput_factor: &[(9.0, "")],
    },
    // Figure 11: the workflow, parallel clients.
    PaperClaim {
        workload: Workload::FanoutWorkflow,
        latency_reduction_pct: &[(92.0, "")],
        throughput_factor: &[(10.0, "")],
    },
];

const PLACEMENTS: [Placement; 2] = [Placement::OneProcess, Placement::TwoNodes];

/// The series of every figure, in legend order.
const SERIES: [(Mode, Placement); 4] = [
    (Mode::Goldfish, Placement::OneProcess),
    (Mode::Stateless, Placement::OneProcess),
    (Mode::Goldfish, Placement::TwoNodes),
    (Mode::Stateless, Placement::TwoNodes),
];

/// Writes results.json, results.csv, fig7.svg .. fig11.svg and ratios.md into
/// `dir` (created if missing); returns the paths written.
pub(crate) fn write_all(results: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let mut write = |name: &str, contents: &str| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
        Ok(())
    };

    let json = serde_json::to_string_pretty(results).context("serializing the results")?;
    write("results.json", &json)?;
    write("results.csv", &csv(results))?;
    for workload in Workload::ALL {
        if let Some(svg) = figure(results, workload)
            .with_context(|| format!("drawing figure {}", workload.figure()))?
        {
            write(&format!("fig{}.svg", workload.figure()), &svg)?;
        }
    }
    write("ratios.md", &ratio_table(results))?;
    Ok(written)
}

// ---------------------------------------------------------------------------
// CSV

fn csv(results: &Results) -> String {
    let mut out = String::from(
        "workload,placement,mode,x,p50_us,p99_us,throughput,total_s,peak_rss_mib,instances,requests,reps\n",
    );
    for r in &results.rows {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{},{},{},{},{:.3},{:.3},{:.3},{:.6},{:.2},{:.2},{},{}",
            r.workload.as_str(),
            r.placement.as_str(),
            r.mode.as_str(),
            r.x,
            r.p50_us,
            r.p99_us,
            r.throughput,
            r.total_s,
            r.peak_rss_mib,
            r.instances,
            r.requests,
            r.reps,
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Number formatting

/// About three significant digits, with k/M/G suffixes for large values.
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1e12 {
        return format!("{v:.2e}");
    }
    for (threshold, scale, suffix) in [(1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")] {
        if a >= threshold {
            return format!("{}{suffix}", fmt_num(v / scale));
        }
    }
    if a == 0.0 {
        return "0".into();
    }
    let decimals = (2 - a.log10().floor() as i64).clamp(0, 12) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Bytes with binary units: "1 KiB", "1.5 MiB".
fn fmt_bytes(v: f64) -> String {
    const UNITS: [(f64, &str); 4] = [
        (1024.0 * 1024.0 * 1024.0 * 1024.0, "TiB"),
        (1024.0 * 1024.0 * 1024.0, "GiB"),
        (1024.0 * 1024.0, "MiB"),
        (1024.0, "KiB"),
    ];
    for (scale, unit) in UNITS {
        if v.abs() >= scale {
            return format!("{} {unit}", fmt_num(v / scale));
        }
    }
    format!("{} B", fmt_num(v))
}

/// What x is, per workload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum XKind {
    Messages,
    Bytes,
    Clients,
}

impl XKind {
    fn of(workload: Workload) -> XKind {
        match workload {
            Workload::Exchange => XKind::Messages,
            Workload::Chained | Workload::Workflow => XKind::Bytes,
            Workload::FanoutChained | Workload::FanoutWorkflow => XKind::Clients,
        }
    }

    fn fmt(self, v: f64) -> String {
        match self {
            XKind::Bytes => fmt_bytes(v),
            XKind::Messages | XKind::Clients => fmt_num(v),
        }
    }

    fn axis_desc(self) -> &'static str {
        match self {
            XKind::Messages => "messages (N)",
            XKind::Bytes => "input size",
            XKind::Clients => "parallel clients",
        }
    }

    /// A range of x values for the ratio table: "1 KiB–16 MiB (5 points)".
    fn describe_range(self, xs: &[u64]) -> String {
        let (Some(&lo), Some(&hi)) = (xs.iter().min(), xs.iter().max()) else {
            return "—".into();
        };
        let unit = match self {
            XKind::Messages => " messages",
            XKind::Bytes => "",
            XKind::Clients => " clients",
        };
        let points = if xs.len() == 1 { "point" } else { "points" };
        if lo == hi {
            format!("{}{unit} ({} {points})", self.fmt(lo as f64), xs.len())
        } else {
            format!(
                "{}–{}{unit} ({} {points})",
                self.fmt(lo as f64),
                self.fmt(hi as f64),
                xs.len()
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Figures

/// How x is drawn: plotted values are log2/log10 of x on a linear axis, so
/// the ticks can sit on powers of two (1 KiB, 4 KiB, ...) or ten.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scale {
    Linear,
    Log2,
    Log10,
}

struct XAxis {
    kind: XKind,
    scale: Scale,
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl XAxis {
    fn new(kind: XKind, xs: &[u64]) -> XAxis {
        let positive: Vec<f64> = xs.iter().filter(|&&x| x > 0).map(|&x| x as f64).collect();
        let min = positive.iter().copied().fold(f64::INFINITY, f64::min);
        let max = positive.iter().copied().fold(0.0, f64::max);
        let spread = if positive.is_empty() { 1.0 } else { max / min };
        let scale = match kind {
            // The paper's figure 7 spans decades of N: log only if ours does.
            XKind::Messages if spread >= 100.0 => Scale::Log10,
            XKind::Bytes | XKind::Clients if spread >= 4.0 => Scale::Log2,
            _ => Scale::Linear,
        };
        let mut axis = XAxis {
            kind,
            scale,
            range: 0.0..1.0,
            ticks: Vec::new(),
        };
        let plotted: Vec<f64> = xs.iter().filter_map(|&x| axis.map(x)).collect();
        let lo = plotted.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = plotted.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        axis.range = if !lo.is_finite() || !hi.is_finite() {
            0.0..1.0
        } else if hi > lo {
            let pad = (hi - lo) * 0.05;
            lo - pad..hi + pad
        } else {
            let pad = match scale {
                Scale::Linear => (lo.abs() * 0.1).max(1.0),
                Scale::Log2 | Scale::Log10 => 0.5,
            };
            lo - pad..hi + pad
        };
        axis.ticks = match scale {
            // One x: its own tick rather than round numbers around it.
            _ if lo == hi => vec![lo],
            Scale::Linear => nice_ticks(&axis.range, 6),
            Scale::Log2 | Scale::Log10 => integer_ticks(&axis.range, 10),
        };
        if axis.ticks.is_empty() {
            let mut data = plotted;
            data.sort_by(f64::total_cmp);
            data.dedup();
            axis.ticks = data;
        }
        axis
    }

    /// The plotted value of x, or None if the axis cannot show it.
    fn map(&self, x: u64) -> Option<f64> {
        let x = x as f64;
        match self.scale {
            Scale::Linear => Some(x),
            Scale::Log2 => (x > 0.0).then(|| x.log2()),
            Scale::Log10 => (x > 0.0).then(|| x.log10()),
        }
    }

    fn label(&self, plotted: f64) -> String {
        let x = match self.scale {
            Scale::Linear => plotted,
            Scale::Log2 => plotted.exp2(),
            Scale::Log10 => 10f64.powf(plotted),
        };
        self.kind.fmt(x)
    }
}

/// An f64 axis with the ticks (bold, labelled) and light grid lines given:
/// plotters' own key points would put log2 of bytes on round numbers rather
/// than 1 KiB, 4 KiB, ..., and its log axes on cluttered ones.
struct Ticked<R> {
    inner: R,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Ticks at the integers of `range`, every k-th so there are at most `max`.
fn integer_ticks(range: &Range<f64>, max: usize) -> Vec<f64> {
    let (lo, hi) = (range.start.ceil(), range.end.floor());
    if !(lo.is_finite() && hi.is_finite()) || hi < lo || hi - lo > 10_000.0 {
        return Vec::new();
    }
    let count = (hi - lo) as usize + 1;
    let step = count.div_ceil(max.max(1));
    (0..count).step_by(step).map(|i| lo + i as f64).collect()
}

/// Round-numbered ticks (1, 2 or 5 times a power of ten apart) in `range`,
/// about `target` of them.
fn nice_ticks(range: &Range<f64>, target: usize) -> Vec<f64> {
    let span = range.end - range.start;
    if !(span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    if !(step.is_finite() && step > 0.0) {
        return Vec::new();
    }
    let first = (range.start / step).ceil();
    (0..64)
        .map(|i| (first + f64::from(i)) * step)
        .take_while(|&t| t <= range.end)
        .collect()
}

/// Ticks on a log axis over `range` (positive): decades, or 1-2-5 (or every
/// digit) within short ranges; light lines at every digit when there is room.
fn log_ticks(range: &Range<f64>) -> (Vec<f64>, Vec<f64>) {
    let (lo, hi) = (range.start.log10(), range.end.log10());
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return (Vec::new(), Vec::new());
    }
    let decades = (lo.floor() as i32 - 1).max(-330)..=(hi.ceil() as i32).min(330);
    let within = |t: &f64| *t >= range.start && *t <= range.end && *t > 0.0;
    let at = |mults: &[f64], every: usize| -> Vec<f64> {
        decades
            .clone()
            .step_by(every.max(1))
            .flat_map(|k| mults.iter().map(move |m| m * 10f64.powi(k)))
            .filter(within)
            .collect()
    };
    let digits = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let span = hi - lo;
    let bold = if span > 2.5 {
        at(&[1.0], (span / 8.0).ceil() as usize)
    } else {
        let mut bold = at(&[1.0, 2.0, 5.0], 1);
        if bold.len() < 3 {
            bold = at(&digits, 1);
        }
        bold
    };
    let light = if span <= 6.0 {
        at(&digits, 1)
    } else {
        Vec::new()
    };
    (bold, light)
}

/// The share of the plot's width and height a legend of four series takes.
const LEGEND_W: f64 = 0.5;
const LEGEND_H: f64 = 0.4;

/// Where the legend hides the fewest points and lines, and how many: each
/// series' points (normalized to the plot, 0..1 both ways) and points along
/// its segments are counted in a legend-sized box at each corner.
fn legend_corner(lines: &[Vec<(f64, f64)>]) -> (SeriesLabelPosition, usize) {
    const W: f64 = LEGEND_W;
    const H: f64 = LEGEND_H;
    let corners = [
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - H),
        (SeriesLabelPosition::UpperRight, 1.0 - W, 1.0 - H),
        (SeriesLabelPosition::LowerRight, 1.0 - W, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    ];
    let mut samples = Vec::new();
    for line in lines {
        samples.extend(line.iter().copied());
        for pair in line.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            samples.extend((1..10).map(|i| {
                let t = f64::from(i) / 10.0;
                (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
            }));
        }
    }
    corners
        .into_iter()
        .map(|(position, x, y)| {
            let hidden = samples
                .iter()
                .filter(|(px, py)| *px >= x && *px <= x + W && *py >= y && *py <= y + H)
                .count();
            (hidden, position)
        })
        .min_by_key(|(hidden, _)| *hidden)
        .map_or((SeriesLabelPosition::UpperLeft, 0), |(hidden, position)| {
            (position, hidden)
        })
}

/// A y range on a log axis that holds every positive value, with some room.
fn log_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 1.0..10.0;
    }
    let (lo, hi) = if hi / lo < 2.0 {
        (lo / 2.0, hi * 2.0)
    } else {
        (lo / 1.5, hi * 1.5)
    };
    let lo = lo.max(f64::MIN_POSITIVE);
    let hi = if hi.is_finite() { hi } else { f64::MAX };
    lo..hi
}

fn series_label(mode: Mode, placement: Placement) -> String {
    let placement = match placement {
        Placement::OneProcess => "one process",
        Placement::TwoNodes => "two nodes (QUIC)",
    };
    format!("{}, {placement}", mode.as_str())
}

fn mode_color(mode: Mode) -> RGBColor {
    match mode {
        Mode::Goldfish => RGBColor(221, 132, 0),
        Mode::Stateless => RGBColor(31, 100, 180),
    }
}

/// One panel of a figure: a y value per row.
struct Panel {
    caption: Option<&'static str>,
    y_desc: &'static str,
    value: fn(&Row) -> f64,
}

/// The rows of one series, sorted by x, one per x.
struct Series<'a> {
    mode: Mode,
    placement: Placement,
    rows: Vec<&'a Row>,
}

fn series_of(results: &Results, workload: Workload) -> Vec<Series<'_>> {
    SERIES
        .iter()
        .filter_map(|&(mode, placement)| {
            let by_x: BTreeMap<u64, &Row> = results
                .rows
                .iter()
                .filter(|r| r.workload == workload && r.mode == mode && r.placement == placement)
                .map(|r| (r.x, r))
                .collect();
            (!by_x.is_empty()).then(|| Series {
                mode,
                placement,
                rows: by_x.into_values().collect(),
            })
        })
        .collect()
}

fn p50_ms(r: &Row) -> f64 {
    r.p50_us / 1000.0
}

fn throughput(r: &Row) -> f64 {
    r.throughput
}

fn total_s(r: &Row) -> f64 {
    r.total_s
}

/// The SVG of the workload's figure, or None if it has no rows.
fn figure(results: &Results, workload: Workload) -> anyhow::Result<Option<String>> {
    let series = series_of(results, workload);
    if series.is_empty() {
        return Ok(None);
    }
    let kind = XKind::of(workload);
    let xs: Vec<u64> = series
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.x))
        .collect();
    let axis = XAxis::new(kind, &xs);

    let (title, panels): (&str, Vec<Panel>) = match workload {
        Workload::Exchange => (
            "Fig. 7: message exchange, N sequential messages",
            vec![Panel {
                caption: None,
                y_desc: "time to process N messages (s)",
                value: total_s,
            }],
        ),
        Workload::Chained => ("Fig. 8: chained functions A → B", size_panels()),
        Workload::Workflow => (
            "Fig. 9: workflow ingest → detect → aggregate",
            size_panels(),
        ),
        Workload::FanoutChained => (
            "Fig. 10: chained functions, parallel clients",
            client_panels(),
        ),
        Workload::FanoutWorkflow => ("Fig. 11: workflow, parallel clients", client_panels()),
    };
    let size = if panels.len() == 1 {
        (640, 420)
    } else {
        (1000, 420)
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let body = root.titled(title, ("sans-serif", 20))?;
        let areas = body.split_evenly((1, panels.len()));
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(area, &axis, panel, &series)?;
        }
        root.present()?;
    }
    Ok(Some(svg))
}

fn size_panels() -> Vec<Panel> {
    vec![
        Panel {
            caption: Some("(a) latency (p50) vs input size"),
            y_desc: "p50 latency (ms)",
            value: p50_ms,
        },
        Panel {
            caption: Some("(b) throughput vs input size"),
            y_desc: "throughput (requests/s)",
            value: throughput,
        },
    ]
}

fn client_panels() -> Vec<Panel> {
    vec![
        Panel {
            caption: Some("(a) latency (p50) vs parallel clients"),
            y_desc: "p50 latency (ms)",
            value: p50_ms,
        },
        Panel {
            caption: Some("(b) throughput vs parallel clients"),
            y_desc: "throughput (requests/s)",
            value: throughput,
        },
    ]
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    axis: &XAxis,
    panel: &Panel,
    series: &[Series<'_>],
) -> anyhow::Result<()> {
    // Points each series can show: x on the axis, y positive (log y).
    let points: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.rows
                .iter()
                .filter_map(|r| {
                    let x = axis.map(r.x)?;
                    let y = (panel.value)(r);
                    (x.is_finite() && y.is_finite() && y > 0.0).then_some((x, y))
                })
                .collect()
        })
        .collect();
    let mut y_range = log_range(points.iter().flatten().map(|p| p.1));
    let normalized: Vec<Vec<(f64, f64)>> = points
        .iter()
        .map(|line| {
            line.iter()
                .map(|&(x, y)| {
                    let (xs, ys) = (&axis.range, &y_range);
                    (
                        (x - xs.start) / (xs.end - xs.start),
                        (y.ln() - ys.start.ln()) / (ys.end.ln() - ys.start.ln()),
                    )
                })
                .collect()
        })
        .collect();
    let (mut legend, hidden) = legend_corner(&normalized);
    if hidden > 0 {
        // No free corner: raise the top of the plot so the data fills only
        // the part below the legend.
        let (lo, hi) = (y_range.start.ln(), y_range.end.ln());
        let top = (lo + (hi - lo) / (1.0 - LEGEND_H)).exp();
        if top.is_finite() && top > y_range.end {
            y_range.end = top;
            legend = SeriesLabelPosition::UpperLeft;
        }
    }
    let (y_bold, y_light) = log_ticks(&y_range);

    let mut builder = ChartBuilder::on(area);
    if let Some(caption) = panel.caption {
        builder.caption(caption, ("sans-serif", 16));
    }
    let mut chart = builder
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(
            Ticked::<RangedCoordf64> {
                inner: axis.range.clone().into(),
                bold: axis.ticks.clone(),
                light: Vec::new(),
            },
            Ticked::<LogCoord<f64>> {
                inner: y_range.log_scale().into(),
                bold: y_bold,
                light: y_light,
            },
        )?;
    let x_label = |v: &f64| axis.label(*v);
    let y_label = |v: &f64| fmt_num(*v);
    chart
        .configure_mesh()
        .x_desc(axis.kind.axis_desc())
        .y_desc(panel.y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    let mut labelled = false;
    for (s, points) in series.iter().zip(&points) {
        if points.is_empty() {
            continue;
        }
        let color = mode_color(s.mode);
        let line = color.stroke_width(2);
        let label = series_label(s.mode, s.placement);
        match s.placement {
            Placement::OneProcess => {
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), line))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
            Placement::TwoNodes => {
                chart
                    .draw_series(DashedLineSeries::new(points.iter().copied(), 6, 4, line))?
                    .label(label)
                    .legend(move |(x, y)| {
                        DashedPathElement::new(vec![(x, y), (x + 20, y)], 6, 4, line)
                    });
                chart.draw_series(
                    points
                        .iter()
                        .map(|&p| TriangleMarker::new(p, 4, color.filled())),
                )?;
            }
        }
        labelled = true;
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(legend)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Ratios

/// Goldfish against stateless at the x values both modes measured.
struct Comparison {
    xs: Vec<u64>,
    /// 1 - goldfish / stateless latency, per x where both are usable.
    latency_reduction: Vec<f64>,
    /// goldfish / stateless throughput, per x where both are usable.
    throughput_ratio: Vec<f64>,
}

fn compare(results: &Results, workload: Workload, placement: Placement) -> Option<Comparison> {
    let rows = |mode: Mode| -> BTreeMap<u64, &Row> {
        results
            .rows
            .iter()
            .filter(|r| r.workload == workload && r.placement == placement && r.mode == mode)
            .map(|r| (r.x, r))
            .collect()
    };
    let (goldfish, stateless) = (rows(Mode::Goldfish), rows(Mode::Stateless));
    if goldfish.is_empty() || stateless.is_empty() {
        return None;
    }
    // Exchange: the time for all N messages (the paper's figure 7);
    // otherwise the median latency of one request.
    let latency = |r: &Row| match workload {
        Workload::Exchange => r.total_s,
        _ => r.p50_us,
    };
    let mut comparison = Comparison {
        xs: Vec::new(),
        latency_reduction: Vec::new(),
        throughput_ratio: Vec::new(),
    };
    for (x, g) in &goldfish {
        let Some(s) = stateless.get(x) else { continue };
        comparison.xs.push(*x);
        let (gl, sl) = (latency(g), latency(s));
        if gl.is_finite() && gl >= 0.0 && sl.is_finite() && sl > 0.0 {
            comparison.latency_reduction.push(1.0 - gl / sl);
        }
        let (gt, st) = (g.throughput, s.throughput);
        if gt.is_finite() && gt >= 0.0 && st.is_finite() && st > 0.0 {
            comparison.throughput_ratio.push(gt / st);
        }
    }
    Some(comparison)
}

fn min_max(values: &[f64]) -> Option<(f64, f64)> {
    let first = *values.first()?;
    Some(
        values
            .iter()
            .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    )
}

/// A share as a percentage: whole percents, but one decimal near 100 (a
/// 99.8% reduction is not "100% lower").
fn fmt_pct(share: f64) -> String {
    let p = share * 100.0;
    if p.abs() >= 99.5 && p.abs() < 100.0 {
        format!("{:.1}", (p * 10.0).floor() / 10.0)
    } else {
        format!("{p:.0}")
    }
}

/// A latency reduction as "90% lower", or "20% higher" if goldfish was slower.
fn fmt_reduction(reduction: f64) -> String {
    if reduction >= 0.0 {
        format!("{}% lower", fmt_pct(reduction))
    } else {
        format!("{}% higher", fmt_pct(-reduction))
    }
}

fn fmt_reduction_range(values: &[f64]) -> String {
    let Some((lo, hi)) = min_max(values) else {
        return "—".into();
    };
    let (lo_pct, hi_pct) = (fmt_pct(lo), fmt_pct(hi));
    if lo_pct == hi_pct {
        fmt_reduction(lo)
    } else if lo >= 0.0 {
        format!("{lo_pct}–{hi_pct}% lower")
    } else if hi < 0.0 {
        format!("{:.0}–{:.0}% higher", -hi * 100.0, -lo * 100.0)
    } else {
        format!("{} to {}", fmt_reduction(lo), fmt_reduction(hi))
    }
}

fn fmt_ratio_range(values: &[f64]) -> String {
    let Some((lo, hi)) = min_max(values) else {
        return "—".into();
    };
    let (lo, hi) = (format!("{lo:.1}"), format!("{hi:.1}"));
    if lo == hi {
        format!("{lo}x")
    } else {
        format!("{lo}–{hi}x")
    }
}

/// The paper's claims as "up to 85% lower (OpenFaaS), 79% (Spin)".
fn fmt_claims(claims: &[(f64, &str)], unit: &str, first_suffix: &str) -> String {
    if claims.is_empty() {
        return "—".into();
    }
    let parts: Vec<String> = claims
        .iter()
        .enumerate()
        .map(|(i, (value, baseline))| {
            let value = if value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.1}")
            };
            let suffix = if i == 0 { first_suffix } else { "" };
            if baseline.is_empty() {
                format!("{value}{unit}{suffix}")
            } else {
                format!("{value}{unit}{suffix} ({baseline})")
            }
        })
        .collect();
    format!("up to {}", parts.join(", "))
}

fn paper_claim(workload: Workload) -> Option<&'static PaperClaim> {
    PAPER.iter().find(|c| c.workload == workload)
}

fn paper_latency(workload: Workload) -> String {
    paper_claim(workload).map_or_else(
        || "—".into(),
        |c| fmt_claims(c.latency_reduction_pct, "%", " lower"),
    )
}

fn paper_throughput(workload: Workload) -> String {
    paper_claim(workload).map_or_else(|| "—".into(), |c| fmt_claims(c.throughput_factor, "x", ""))
}

/// The ratio table as Markdown (also written to ratios.md): one line per
/// (workload, placement) that has both modes.
pub(crate) fn ratio_table(results: &Results) -> String {
    let comparisons: Vec<(Workload, Placement, Comparison)> = Workload::ALL
        .iter()
        .flat_map(|&w| PLACEMENTS.iter().map(move |&p| (w, p)))
        .filter_map(|(w, p)| compare(results, w, p).map(|c| (w, p, c)))
        .collect();

    let m = &results.machine;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# GoldFish vs stateless (the paper, section 6)\n");
    let _ = writeln!(
        out,
        "Run started {}{}; {}, {} cores, {:.1} GiB, {}, Redis {}.\n",
        results.started,
        if results.quick { " (quick)" } else { "" },
        m.cpu,
        m.cores,
        m.memory_gib,
        m.os,
        m.redis,
    );
    let _ = writeln!(
        out,
        "Per x measured in both modes: latency reduction = 1 − goldfish / stateless p50 \
         (exchange: the time for all N messages), throughput = goldfish / stateless. \
         The stateless mode (a new instance per message, state in Redis) stands in for \
         the paper's OpenFaaS and Spin baselines.\n"
    );
    let _ = writeln!(
        out,
        "| workload | placement | x range | latency (p50) goldfish vs stateless \
         | throughput goldfish / stateless | paper: latency reduction | paper: throughput |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (w, p, c) in &comparisons {
        let _ = writeln!(
            out,
            "| {} (fig. {}) | {} | {} | {} | {} | {} | {} |",
            w.as_str(),
            w.figure(),
            p.as_str(),
            XKind::of(*w).describe_range(&c.xs),
            fmt_reduction_range(&c.latency_reduction),
            fmt_ratio_range(&c.throughput_ratio),
            paper_latency(*w),
            paper_throughput(*w),
        );
    }

    let _ = writeln!(out, "\n## Max ratio per workload\n");
    let _ = writeln!(
        out,
        "| workload | placement | latency: goldfish vs stateless, up to | paper: latency reduction \
         | throughput: goldfish / stateless, up to | paper: throughput |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (w, p, c) in &comparisons {
        let latency = min_max(&c.latency_reduction).map_or_else(
            || "—".into(),
            |(_, hi)| {
                if hi >= 0.0 {
                    format!("up to {}", fmt_reduction(hi))
                } else {
                    format!("at best {}", fmt_reduction(hi))
                }
            },
        );
        let throughput = min_max(&c.throughput_ratio)
            .map_or_else(|| "—".into(), |(_, hi)| format!("up to {hi:.1}x"));
        let _ = writeln!(
            out,
            "| {} (fig. {}) | {} | {} | {} | {} | {} |",
            w.as_str(),
            w.figure(),
            p.as_str(),
            latency,
            paper_latency(*w),
            throughput,
            paper_throughput(*w),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::results::Machine;
    use super::*;

    fn row(
        workload: Workload,
        placement: Placement,
        mode: Mode,
        x: u64,
        p50_us: f64,
        throughput: f64,
    ) -> Row {
        Row {
            workload,
            placement,
            mode,
            x,
            p50_us,
            p99_us: p50_us * 2.0,
            throughput,
            total_s: if throughput > 0.0 {
                100.0 / throughput
            } else {
                0.0
            },
            peak_rss_mib: 42.5,
            instances: 3.0,
            requests: 100,
            reps: 3,
        }
    }

    fn machine() -> Machine {
        Machine {
            cpu: "test cpu".into(),
            cores: 2,
            memory_gib: 4.0,
            os: "linux".into(),
            redis: "7.2".into(),
        }
    }

    /// Every workload; both modes on one process, a few x values; two nodes
    /// with a one-point series and a zero value.
    fn synthetic() -> Results {
        let mut rows = Vec::new();
        for workload in Workload::ALL {
            let xs: &[u64] = match workload {
                Workload::Exchange => &[10, 100, 1000],
                Workload::Chained | Workload::Workflow => &[1024, 65536, 1 << 20, 16 << 20],
                Workload::FanoutChained | Workload::FanoutWorkflow => &[1, 2, 4, 64],
            };
            for (i, &x) in xs.iter().enumerate() {
                let scale = (i + 1) as f64;
                rows.push(row(
                    workload,
                    Placement::OneProcess,
                    Mode::Goldfish,
                    x,
                    10.0 * scale,
                    1000.0,
                ));
                rows.push(row(
                    workload,
                    Placement::OneProcess,
                    Mode::Stateless,
                    x,
                    100.0 * scale,
                    100.0,
                ));
            }
            // Two nodes: goldfish has one point, stateless one zero latency.
            rows.push(row(
                workload,
                Placement::TwoNodes,
                Mode::Goldfish,
                xs[0],
                20.0,
                500.0,
            ));
            rows.push(row(
                workload,
                Placement::TwoNodes,
                Mode::Stateless,
                xs[0],
                0.0,
                50.0,
            ));
            rows.push(row(
                workload,
                Placement::TwoNodes,
                Mode::Stateless,
                xs[1],
                200.0,
                50.0,
            ));
        }
        Results {
            started: "2024-01-01T00:00:00Z".into(),
            quick: true,
            machine: machine(),
            rows,
        }
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let path = std::env::temp_dir().join(format!(
                "goldfish-report-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn write_all_writes_every_file() {
        let results = synthetic();
        let dir = TempDir::new("all");
        let written = write_all(&results, &dir.0.join("nested")).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "results.json",
                "results.csv",
                "fig7.svg",
                "fig8.svg",
                "fig9.svg",
                "fig10.svg",
                "fig11.svg",
                "ratios.md"
            ]
        );
        for path in &written {
            assert!(path.is_file(), "{} missing", path.display());
        }

        for n in 7..=11 {
            let svg =
                std::fs::read_to_string(dir.0.join("nested").join(format!("fig{n}.svg"))).unwrap();
            assert!(
                svg.starts_with("<svg"),
                "fig{n}: {}",
                &svg[..svg.len().min(80)]
            );
            assert!(svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains(&format!("Fig. {n}:")), "fig{n} title");
            for label in [
                "goldfish, one process",
                "stateless, one process",
                "goldfish, two nodes (QUIC)",
                "stateless, two nodes (QUIC)",
            ] {
                assert!(svg.contains(label), "fig{n} lacks {label}");
            }
        }
        let fig8 = std::fs::read_to_string(dir.0.join("nested/fig8.svg")).unwrap();
        for tick in ["1 KiB", "64 KiB", "1 MiB", "16 MiB", "p50 latency (ms)"] {
            assert!(fig8.contains(tick), "fig8 lacks {tick}");
        }

        let csv = std::fs::read_to_string(dir.0.join("nested/results.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + results.rows.len());
        assert_eq!(
            lines[0],
            "workload,placement,mode,x,p50_us,p99_us,throughput,total_s,peak_rss_mib,instances,requests,reps"
        );
        assert!(lines[1].starts_with("exchange,one-process,goldfish,10,10.000,20.000,1000.000,"));
        assert!(lines.iter().skip(1).all(|l| l.split(',').count() == 12));

        let json = std::fs::read_to_string(dir.0.join("nested/results.json")).unwrap();
        let back: Results = serde_json::from_str(&json).unwrap();
        assert_eq!(back, results);

        let md = std::fs::read_to_string(dir.0.join("nested/ratios.md")).unwrap();
        assert_eq!(md, ratio_table(&results));
    }

    #[test]
    fn only_workloads_with_rows_get_a_figure() {
        let mut results = synthetic();
        results.rows.retain(|r| {
            r.workload == Workload::Chained
                && r.mode == Mode::Goldfish
                && r.placement == Placement::TwoNodes
        });
        let dir = TempDir::new("one");
        let written = write_all(&results, &dir.0).unwrap();
        assert!(written.iter().any(|p| p.ends_with("fig8.svg")));
        for n in [7, 9, 10, 11] {
            assert!(!dir.0.join(format!("fig{n}.svg")).exists());
        }
        let svg = std::fs::read_to_string(dir.0.join("fig8.svg")).unwrap();
        assert!(svg.contains("goldfish, two nodes (QUIC)"));
        assert!(!svg.contains("stateless, one process"));
        // One mode only: no ratio lines.
        let table = ratio_table(&results);
        assert!(!table.contains("| chained"), "{table}");
    }

    #[test]
    fn ratio_table_hand_computed() {
        let results = Results {
            started: "now".into(),
            quick: false,
            machine: machine(),
            rows: vec![
                row(
                    Workload::Chained,
                    Placement::OneProcess,
                    Mode::Goldfish,
                    1024,
                    10.0,
                    1000.0,
                ),
                row(
                    Workload::Chained,
                    Placement::OneProcess,
                    Mode::Stateless,
                    1024,
                    100.0,
                    100.0,
                ),
                row(
                    Workload::Chained,
                    Placement::OneProcess,
                    Mode::Goldfish,
                    2048,
                    50.0,
                    300.0,
                ),
                row(
                    Workload::Chained,
                    Placement::OneProcess,
                    Mode::Stateless,
                    2048,
                    100.0,
                    100.0,
                ),
                // Only one mode: ignored by the ratios.
                row(
                    Workload::Chained,
                    Placement::OneProcess,
                    Mode::Goldfish,
                    4096,
                    1.0,
                    1.0,
                ),
                // Goldfish slower: 120 vs 100 us is 20% higher.
                row(
                    Workload::FanoutWorkflow,
                    Placement::TwoNodes,
                    Mode::Goldfish,
                    8,
                    120.0,
                    90.0,
                ),
                row(
                    Workload::FanoutWorkflow,
                    Placement::TwoNodes,
                    Mode::Stateless,
                    8,
                    100.0,
                    100.0,
                ),
                // Exchange uses total_s: 10 s vs 100 s is 90% lower.
                Row {
                    total_s: 10.0,
                    ..row(
                        Workload::Exchange,
                        Placement::OneProcess,
                        Mode::Goldfish,
                        1000,
                        1.0,
                        100.0,
                    )
                },
                Row {
                    total_s: 100.0,
                    ..row(
                        Workload::Exchange,
                        Placement::OneProcess,
                        Mode::Stateless,
                        1000,
                        1.0,
                        10.0,
                    )
                },
            ],
        };
        let table = ratio_table(&results);
        let lines: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
        // Two headers, three lines per table.
        assert_eq!(lines.len(), 8, "{table}");

        let chained: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("| chained"))
            .collect();
        assert_eq!(
            chained[0],
            "| chained (fig. 8) | one-process | 1 KiB–2 KiB (2 points) | 50–90% lower | 3.0–10.0x \
             | up to 85% lower (OpenFaaS), 79% (Spin) | up to 6.8x (OpenFaaS), 4.7x (Spin) |"
        );
        assert_eq!(
            chained[1],
            "| chained (fig. 8) | one-process | up to 90% lower \
             | up to 85% lower (OpenFaaS), 79% (Spin) | up to 10.0x \
             | up to 6.8x (OpenFaaS), 4.7x (Spin) |"
        );
        let exchange = lines.iter().find(|l| l.starts_with("| exchange")).unwrap();
        assert!(
            exchange.contains("| 90% lower | 10.0x | up to 89% lower | — |"),
            "{exchange}"
        );
        let fanout = lines
            .iter()
            .find(|l| l.starts_with("| fanout-workflow"))
            .unwrap();
        assert!(
            fanout.contains(
                "| 8 clients (1 point) | 20% higher | 0.9x | up to 92% lower | up to 10x |"
            ),
            "{fanout}"
        );
        assert!(table.contains("| fanout-workflow (fig. 11) | two-nodes | at best 20% higher |"));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let weird = [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e-320, 1e300];
        let mut rows = Vec::new();
        for workload in Workload::ALL {
            for (i, &v) in weird.iter().enumerate() {
                let x = [0, 1, u64::MAX, u64::MAX - 1, 7, 7][i];
                for mode in [Mode::Goldfish, Mode::Stateless] {
                    rows.push(Row {
                        total_s: v,
                        p99_us: v,
                        ..row(workload, Placement::TwoNodes, mode, x, v, v)
                    });
                }
            }
        }
        let results = Results {
            started: String::new(),
            quick: false,
            machine: machine(),
            rows,
        };
        let dir = TempDir::new("weird");
        let written = write_all(&results, &dir.0).unwrap();
        assert_eq!(written.len(), 8);
        let _ = ratio_table(&results);

        // Every series with a single x, on each workload.
        let single = Results {
            rows: results.rows.iter().filter(|r| r.x == 7).cloned().collect(),
            ..results.clone()
        };
        write_all(&single, &dir.0).unwrap();
        // No rows at all: data files only.
        let empty = Results {
            rows: Vec::new(),
            ..results
        };
        assert_eq!(write_all(&empty, &dir.0).unwrap().len(), 3);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_bytes(1024.0), "1 KiB");
        assert_eq!(fmt_bytes(65536.0), "64 KiB");
        assert_eq!(fmt_bytes(16.0 * 1024.0 * 1024.0), "16 MiB");
        assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
        assert_eq!(fmt_bytes(100.0), "100 B");
        assert_eq!(fmt_num(0.0125), "0.0125");
        assert_eq!(fmt_num(12345.0), "12.3k");
        assert_eq!(fmt_num(2000.0), "2000");
        assert_eq!(fmt_reduction_range(&[0.9]), "90% lower");
        assert_eq!(fmt_reduction_range(&[0.9976]), "99.7% lower");
        assert_eq!(fmt_reduction_range(&[0.76, 0.9976]), "76–99.7% lower");
        assert_eq!(
            fmt_reduction_range(&[-0.5, 0.25]),
            "50% higher to 25% lower"
        );
        assert_eq!(fmt_reduction_range(&[-0.5, -0.25]), "25–50% higher");
        assert_eq!(fmt_ratio_range(&[]), "—");

        let axis = XAxis::new(XKind::Bytes, &[1024, 16 << 20]);
        assert_eq!(axis.scale, Scale::Log2);
        let labels: Vec<String> = axis.ticks.iter().map(|&t| axis.label(t)).collect();
        assert_eq!(
            labels,
            ["1 KiB", "4 KiB", "16 KiB", "64 KiB", "256 KiB", "1 MiB", "4 MiB", "16 MiB"]
        );
        let axis = XAxis::new(XKind::Clients, &[1, 2, 4, 8, 16, 32, 64]);
        let labels: Vec<String> = axis.ticks.iter().map(|&t| axis.label(t)).collect();
        assert_eq!(labels, ["1", "2", "4", "8", "16", "32", "64"]);
        let axis = XAxis::new(XKind::Messages, &[10, 20, 50]);
        assert_eq!(axis.scale, Scale::Linear);
        assert_eq!(axis.ticks, [10.0, 20.0, 30.0, 40.0, 50.0]);
        let axis = XAxis::new(XKind::Bytes, &[4096, 4096]);
        assert_eq!(axis.ticks, [4096.0]);
        assert_eq!(axis.label(4096.0), "4 KiB");
        let axis = XAxis::new(XKind::Clients, &[]);
        assert!(axis.range.start < axis.range.end);
    }
}

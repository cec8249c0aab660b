//! `cargo xtask plot`: int8 top-1 accuracy against instructions per
//! inference, and against the firmware's RAM, as SVG, for the AttoNet
//! family, the two baselines trained by the same recipe and the MLPerf Tiny
//! ResNet-8 reference.
//!
//! Instructions come from `benches/qemu/results.csv` (`cargo xtask
//! bench-qemu`: one model a firmware, exact counts under QEMU), accuracy from
//! each model folder's `card.json` (`figures.int8_top1`, all 10,000 CIFAR-10
//! test images with the firmware's kernels) and, for the MLPerf reference,
//! from `models/mlperf-tiny/README.md` (TensorFlow Lite Micro's top-1).
//! One SVG a board: the Cortex-M4 (`mps2-an386`) always, RISC-V `virt` when
//! its rows exist; and the second task's family (Fashion-MNIST,
//! `models/fashion-mnist`) on the Cortex-M4 from its cards' QEMU counts. The
//! SVG is written by hand: no plotting dependency.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// What a point is, for its marker and the legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The searched AttoNet family.
    Family,
    /// A baseline trained by the family's recipe.
    Baseline,
    /// The MLPerf Tiny reference model.
    Reference,
}

/// Where a model's int8 top-1 comes from.
#[derive(Debug, Clone, Copy)]
pub enum Accuracy {
    /// `models/<folder>/card.json`, `figures.int8_top1`.
    Card(&'static str),
    /// `models/mlperf-tiny/README.md`: the reference's TFLM top-1.
    MlperfReadme,
}

/// A model of the plot: its `results.csv` name, label and accuracy source.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub model: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub accuracy: Accuracy,
}

/// The plotted models, in legend order.
pub const ENTRIES: [Entry; 7] = [
    Entry {
        model: "attonet_d",
        label: "AttoNet-D",
        kind: Kind::Family,
        accuracy: Accuracy::Card("attonet-d"),
    },
    Entry {
        model: "attonet_c",
        label: "AttoNet-C",
        kind: Kind::Family,
        accuracy: Accuracy::Card("attonet-c"),
    },
    Entry {
        model: "attonet_b",
        label: "AttoNet-B",
        kind: Kind::Family,
        accuracy: Accuracy::Card("attonet-b"),
    },
    Entry {
        model: "attonet_a",
        label: "AttoNet-A",
        kind: Kind::Family,
        accuracy: Accuracy::Card("attonet-a"),
    },
    Entry {
        model: "baseline_resnet8",
        label: "ResNet-8, our recipe",
        kind: Kind::Baseline,
        accuracy: Accuracy::Card("baseline-resnet8"),
    },
    Entry {
        model: "baseline_mobilenet",
        label: "MobileNet-style, our recipe",
        kind: Kind::Baseline,
        accuracy: Accuracy::Card("baseline-mobilenet"),
    },
    Entry {
        model: "resnet8",
        label: "MLPerf Tiny ResNet-8",
        kind: Kind::Reference,
        accuracy: Accuracy::MlperfReadme,
    },
];

/// The boards plotted: QEMU machine, file suffix, description. The first is
/// required; the others are drawn when `results.csv` has their rows.
pub const PLOTS: [(&str, &str, &str); 2] = [
    ("mps2-an386", "m4", "Cortex-M4F (QEMU mps2-an386)"),
    ("virt", "virt", "RISC-V rv32imac (QEMU virt)"),
];

/// One `results.csv` row: the columns the plot needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub model: String,
    pub board: String,
    pub instructions: u64,
    /// `ram_static_bytes + stack_peak_bytes`: the firmware's RAM.
    pub ram_bytes: u64,
}

/// The rows of a `results.csv` text (header `model,board,instructions,...`,
/// found by column name).
pub fn parse_results(text: &str) -> Result<Vec<Row>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("empty file: no header")?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|c| *c == name)
            .with_context(|| format!("no column {name:?} in the header {header:?}"))
    };
    let (m, b, n) = (col("model")?, col("board")?, col("instructions")?);
    // RAM columns are optional (older files, tests): 0 when absent.
    let (ram, stack) = (col("ram_static_bytes").ok(), col("stack_peak_bytes").ok());
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() != header.len() {
            bail!(
                "row {} has {} columns, the header {}: {line:?}",
                i + 2,
                cols.len(),
                header.len()
            );
        }
        let instructions = cols[n]
            .parse()
            .with_context(|| format!("row {}: instructions {:?} is not a count", i + 2, cols[n]))?;
        let bytes = |c: Option<usize>| -> Result<u64> {
            c.map_or(Ok(0), |c| {
                cols[c]
                    .parse()
                    .with_context(|| format!("row {}: {:?} is not a byte count", i + 2, cols[c]))
            })
        };
        rows.push(Row {
            model: cols[m].to_string(),
            board: cols[b].to_string(),
            instructions,
            ram_bytes: bytes(ram)? + bytes(stack)?,
        });
    }
    Ok(rows)
}

/// The instructions of `model` on `board`, or an error that says how to
/// measure them.
pub fn instructions(rows: &[Row], model: &str, board: &str) -> Result<u64> {
    row(rows, model, board).map(|r| r.instructions)
}

/// The row of `model` on `board`, or an error that says how to measure it.
pub fn row<'a>(rows: &'a [Row], model: &str, board: &str) -> Result<&'a Row> {
    rows.iter()
        .find(|r| r.model == model && r.board == board)
        .with_context(|| {
            format!(
                "benches/qemu/results.csv has no row for {model} on {board}: \
                 measure it with `cargo xtask bench-qemu --model {model} --board {board}`"
            )
        })
}

/// A card's int8 top-1 (`figures.int8_top1`, percent).
pub fn card_int8_top1(text: &str) -> Result<f64> {
    let card: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    card["figures"]["int8_top1"]
        .as_f64()
        .context("no number at figures.int8_top1")
}

/// The MLPerf ResNet-8 reference's top-1 from `models/mlperf-tiny/README.md`:
/// the number before `%` after "top-1" on the `resnet8_int8.tflite` line.
pub fn mlperf_top1(readme: &str) -> Result<f64> {
    let line = readme
        .lines()
        .find(|l| l.contains("resnet8_int8.tflite") && l.contains("top-1"))
        .context("no line with resnet8_int8.tflite and its top-1")?;
    let after = &line[line.find("top-1").unwrap_or(0)..];
    let percent = after
        .find('%')
        .context("no percentage after top-1 on the resnet8_int8.tflite line")?;
    let number = after[..percent]
        .trim_end()
        .rsplit(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("");
    number
        .parse()
        .with_context(|| format!("{number:?} before % is not a number in {line:?}"))
}

/// Reads `path` under `root`, saying which file is missing.
fn read(root: &Path, path: &str) -> Result<String> {
    std::fs::read_to_string(root.join(path)).with_context(|| format!("reading {path}"))
}

/// Every entry's int8 top-1, in [`ENTRIES`] order.
pub fn accuracies(root: &Path) -> Result<Vec<f64>> {
    ENTRIES
        .iter()
        .map(|e| match e.accuracy {
            Accuracy::Card(folder) => {
                let path = format!("models/{folder}/card.json");
                card_int8_top1(&read(root, &path)?)
                    .with_context(|| format!("{path}: the int8 top-1 of {}", e.model))
            }
            Accuracy::MlperfReadme => {
                let path = "models/mlperf-tiny/README.md";
                mlperf_top1(&read(root, path)?)
                    .with_context(|| format!("{path}: the reference's top-1"))
            }
        })
        .collect()
}

/// A plotted point.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub kind: Kind,
    /// Instructions per inference.
    pub x: f64,
    /// int8 top-1, percent.
    pub y: f64,
}

/// `cargo xtask plot`.
pub fn plot(root: &Path) -> Result<()> {
    let results = "benches/qemu/results.csv";
    let rows =
        parse_results(&read(root, results)?).with_context(|| format!("parsing {results}"))?;
    let acc = accuracies(root)?;
    for (i, (board, suffix, what)) in PLOTS.iter().enumerate() {
        let have_board = rows.iter().any(|r| r.board == *board);
        if i > 0 && !have_board {
            eprintln!("{results} has no rows for {board}: no plot for it");
            continue;
        }
        let mut points = Vec::new();
        for (e, &y) in ENTRIES.iter().zip(&acc) {
            let x = instructions(&rows, e.model, board)?;
            points.push(Point {
                label: format!("{} {y:.2} %", e.label),
                kind: e.kind,
                x: x as f64,
                y,
            });
        }
        let title = format!("CIFAR-10 int8 accuracy against instructions, {what}");
        let text = svg(&title, &INSTRUCTIONS, &points);
        let out = format!("benches/qemu/accuracy-vs-instructions-{suffix}.svg");
        std::fs::write(root.join(&out), text).with_context(|| format!("writing {out}"))?;
        eprintln!("wrote {out}");
        for p in &points {
            eprintln!("  {:<40} {:>12.0} instructions", p.label, p.x);
        }
    }
    // RAM: the Cortex-M4 firmware's (the same plan on every board).
    let (board, suffix, what) = PLOTS[0];
    let mut points = Vec::new();
    for (e, &y) in ENTRIES.iter().zip(&acc) {
        let r = row(&rows, e.model, board)?;
        if r.ram_bytes == 0 {
            bail!("{results}: no RAM columns for {} on {board}", e.model);
        }
        points.push(Point {
            label: format!("{} {y:.2} %", e.label),
            kind: e.kind,
            x: r.ram_bytes as f64,
            y,
        });
    }
    let title = format!("CIFAR-10 int8 accuracy against RAM, {what}");
    let out = format!("benches/qemu/accuracy-vs-ram-{suffix}.svg");
    std::fs::write(root.join(&out), svg(&title, &RAM, &points))
        .with_context(|| format!("writing {out}"))?;
    eprintln!("wrote {out}");
    for p in &points {
        eprintln!("  {:<40} {:>12.0} B of RAM", p.label, p.x);
    }
    second_task(root)
}

/// The second task's family (`models/fashion-mnist/`, published with
/// `--qemu`): the same plot from its cards alone, whose `figures.qemu`
/// holds the exact Cortex-M4 count of each network's own firmware.
pub const SECOND_TASK: (&str, &str, &str) = (
    "models/fashion-mnist",
    "Fashion-MNIST",
    "benches/qemu/accuracy-vs-instructions-m4-fashion-mnist.svg",
);

/// The folders of [`SECOND_TASK`] plotted: folder, label, kind.
pub const SECOND_TASK_ENTRIES: [(&str, &str, Kind); 6] = [
    ("attonet-d", "AttoNet-D", Kind::Family),
    ("attonet-c", "AttoNet-C", Kind::Family),
    ("attonet-b", "AttoNet-B", Kind::Family),
    ("attonet-a", "AttoNet-A", Kind::Family),
    ("baseline-resnet8", "ResNet-8, our recipe", Kind::Baseline),
    (
        "baseline-mobilenet",
        "MobileNet-style, our recipe",
        Kind::Baseline,
    ),
];

/// A card's int8 top-1 and its QEMU Cortex-M4 instructions
/// (`figures.qemu.instructions` on `mps2-an386`).
pub fn card_point(text: &str) -> Result<(f64, u64)> {
    let card: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let top1 = card["figures"]["int8_top1"]
        .as_f64()
        .context("no number at figures.int8_top1")?;
    let qemu = &card["figures"]["qemu"];
    if qemu["board"].as_str() != Some("mps2-an386") {
        bail!("figures.qemu is not an mps2-an386 measurement (publish with --qemu)");
    }
    let n = qemu["instructions"]
        .as_u64()
        .context("no count at figures.qemu.instructions")?;
    Ok((top1, n))
}

/// [`SECOND_TASK`]'s plot; nothing (said on stderr) where its folder is
/// absent.
fn second_task(root: &Path) -> Result<()> {
    let (dir, task, out) = SECOND_TASK;
    if !root.join(dir).is_dir() {
        eprintln!("no {dir}: no {task} plot");
        return Ok(());
    }
    let mut points = Vec::new();
    for (folder, label, kind) in SECOND_TASK_ENTRIES {
        let path = format!("{dir}/{folder}/card.json");
        let (y, x) = card_point(&read(root, &path)?).with_context(|| path.clone())?;
        points.push(Point {
            label: format!("{label} {y:.2} %"),
            kind,
            x: x as f64,
            y,
        });
    }
    let title = format!("{task} int8 accuracy against instructions, {}", PLOTS[0].2);
    let footnote = format!(
        "instructions and accuracy: {dir}/*/card.json (publish --qemu: each network's own \
         firmware on QEMU)"
    );
    let text = svg_for(
        &title,
        &INSTRUCTIONS,
        &points,
        &format!("int8 top-1 (%, 10,000 {task} test images)"),
        &footnote,
    );
    std::fs::write(root.join(out), text).with_context(|| format!("writing {out}"))?;
    eprintln!("wrote {out}");
    for p in &points {
        eprintln!("  {:<40} {:>12.0} instructions", p.label, p.x);
    }
    Ok(())
}

/// Ticks from `lo` to `hi`: a step of 1, 2, 2.5 or 5 times a power of ten
/// giving at most 10 of them; returns (first, step, count), the first at or
/// below `lo` and the last at or above `hi`.
fn ticks(lo: f64, hi: f64) -> (f64, f64, usize) {
    let span = (hi - lo).max(f64::EPSILON);
    let mut magnitude = 10f64.powf((span / 10.0).log10().floor());
    loop {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * magnitude;
            let first = (lo / step).floor() * step;
            let last = (hi / step).ceil() * step;
            let count = ((last - first) / step).round() as usize + 1;
            if count <= 10 {
                return (first, step, count);
            }
        }
        magnitude *= 10.0;
    }
}

/// A tick's text: as few decimals as the step needs.
fn tick_text(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else if (step * 10.0).fract().abs() < 1e-9 {
        1
    } else {
        2
    };
    format!("{v:.decimals$}")
}

/// An axis-aligned box, for label placement.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn overlap(&self, o: &Rect) -> f64 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        w * h
    }

    /// The area of this box outside `o`.
    fn outside(&self, o: &Rect) -> f64 {
        (self.x1 - self.x0) * (self.y1 - self.y0) - self.overlap(o)
    }
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 500.0;
const FONT: f64 = 12.0;
/// Average glyph width of the sans-serif font over its size (generous).
const GLYPH: f64 = 0.6;

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn color(kind: Kind) -> &'static str {
    match kind {
        Kind::Family => "#1f63b4",
        Kind::Baseline => "#e07b00",
        Kind::Reference => "#2a9d3a",
    }
}

/// A marker at (x, y).
fn marker(kind: Kind, x: f64, y: f64) -> String {
    let c = color(kind);
    match kind {
        Kind::Family => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{c}"/>"#),
        Kind::Baseline => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{c}"/>"#,
            x - 4.5,
            y - 4.5
        ),
        Kind::Reference => format!(
            r#"<path d="M {x:.1} {:.1} L {:.1} {y:.1} L {x:.1} {:.1} L {:.1} {y:.1} Z" fill="{c}"/>"#,
            y - 6.5,
            x + 6.5,
            y + 6.5,
            x - 6.5
        ),
    }
}

/// The plot as SVG text: points with their labels (placed where they
/// overlap nothing, when they can), the family joined by a dashed line,
/// axes with ticks and units, a legend and a title.
/// The x axis of a plot: what it shows, in which unit, measured where.
#[derive(Debug, Clone, Copy)]
pub struct XAxis {
    /// The axis title.
    pub label: &'static str,
    /// The values are divided by this for the ticks (1e6: millions).
    pub unit: f64,
    /// What the footnote names as the x values' source.
    pub source: &'static str,
}

/// Instructions per inference, in millions.
pub const INSTRUCTIONS: XAxis = XAxis {
    label: "instructions per inference (millions; exact, one model a firmware)",
    unit: 1e6,
    source: "instructions",
};

/// The firmware's RAM: static (arena, input and output buffers) plus the
/// painted stack peak, in KB.
pub const RAM: XAxis = XAxis {
    label: "RAM per firmware (KB: static, arena included, plus peak stack)",
    unit: 1e3,
    source: "RAM (static + stack peak)",
};

/// The CIFAR-10 plots' SVG ([`svg_for`] with their y axis and sources).
pub fn svg(title: &str, axis: &XAxis, points: &[Point]) -> String {
    let footnote = format!(
        "{}: benches/qemu/results.csv (cargo xtask bench-qemu); accuracy: the models' cards, \
         MLPerf: TFLM (models/mlperf-tiny)",
        axis.source
    );
    svg_for(
        title,
        axis,
        points,
        "int8 top-1 (%, 10,000 CIFAR-10 test images)",
        &footnote,
    )
}

/// The SVG of `points` against `axis`, the y axis titled `y_label`, the
/// sources said by `footnote`.
pub fn svg_for(
    title: &str,
    axis: &XAxis,
    points: &[Point],
    y_label: &str,
    footnote: &str,
) -> String {
    // The plot area.
    let (left, right, top, bottom) = (78.0, WIDTH - 24.0, 78.0, HEIGHT - 78.0);
    let xs: Vec<f64> = points.iter().map(|p| p.x / axis.unit).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.y).collect();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x_lo, x_hi) = (min(&xs), max(&xs));
    let (y_lo, y_hi) = (min(&ys), max(&ys));
    // Room for labels on either side.
    let pad_x = (x_hi - x_lo).max(1.0) * 0.08;
    let pad_y = (y_hi - y_lo).max(0.5) * 0.12;
    let (xt0, xstep, xn) = ticks(x_lo - pad_x, x_hi + pad_x);
    let (yt0, ystep, yn) = ticks(y_lo - pad_y, y_hi + pad_y);
    let (xa, xb) = (xt0, xt0 + xstep * (xn - 1) as f64);
    let (ya, yb) = (yt0, yt0 + ystep * (yn - 1) as f64);
    let px = |x: f64| left + (x - xa) / (xb - xa) * (right - left);
    let py = |y: f64| bottom - (y - ya) / (yb - ya) * (bottom - top);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="26" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        esc(title)
    );
    // Legend, one row under the title.
    // (The kinds the plot has points of.)
    let legend: Vec<(Kind, &str)> = [
        (Kind::Family, "AttoNet family (searched)"),
        (Kind::Baseline, "baselines, same training recipe"),
        (Kind::Reference, "MLPerf Tiny reference (TFLM top-1)"),
    ]
    .into_iter()
    .filter(|(k, _)| points.iter().any(|p| p.kind == *k))
    .collect();
    // Spaced by the text's width at an average glyph (a long row would
    // otherwise start off the left edge).
    let widths: Vec<f64> = legend
        .iter()
        .map(|(_, t)| 16.0 + t.len() as f64 * FONT * 0.52 + 24.0)
        .collect();
    let mut lx = (WIDTH / 2.0 - widths.iter().sum::<f64>() / 2.0).max(12.0);
    for ((kind, text), w) in legend.iter().zip(&widths) {
        let _ = writeln!(s, "{}", marker(*kind, lx + 5.0, 50.0));
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="54">{}</text>"#,
            lx + 16.0,
            esc(text)
        );
        lx += w;
    }

    // Grid and ticks.
    let _ = writeln!(s, r##"<g stroke="#e4e4e4" stroke-width="1">"##);
    for i in 0..xn {
        let x = px(xt0 + xstep * i as f64);
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/>"#
        );
    }
    for i in 0..yn {
        let y = py(yt0 + ystep * i as f64);
        let _ = writeln!(
            s,
            r#"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}"/>"#
        );
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(
        s,
        r#"<rect x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        right - left,
        bottom - top
    );
    for i in 0..xn {
        let v = xt0 + xstep * i as f64;
        let x = px(v);
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 5.0,
            bottom + 19.0,
            tick_text(v, xstep)
        );
    }
    for i in 0..yn {
        let v = yt0 + ystep * i as f64;
        let y = py(v);
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{left:.1}" y2="{y:.1}" stroke="black"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 5.0,
            left - 8.0,
            y + 4.0,
            tick_text(v, ystep)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (left + right) / 2.0,
        bottom + 40.0,
        esc(axis.label)
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (top + bottom) / 2.0,
        esc(y_label)
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="#666">{}</text>"##,
        right,
        HEIGHT - 10.0,
        esc(footnote)
    );

    // The family, joined in order of the x axis.
    let mut family: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.kind == Kind::Family)
        .map(|p| (px(p.x / axis.unit), py(p.y)))
        .collect();
    family.sort_by(|a, b| a.0.total_cmp(&b.0));
    if family.len() > 1 {
        let path: Vec<String> = family
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5" stroke-dasharray="5 4" opacity="0.6"/>"#,
            path.join(" "),
            color(Kind::Family)
        );
    }

    // Markers, then labels placed greedily: the first candidate position
    // that overlaps no marker, no placed label and stays inside the plot
    // area; else the one that overlaps least.
    let centres: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (px(p.x / axis.unit), py(p.y)))
        .collect();
    for (p, &(x, y)) in points.iter().zip(&centres) {
        let _ = writeln!(s, "{}", marker(p.kind, x, y));
    }
    let area = Rect {
        x0: left + 2.0,
        y0: top + 2.0,
        x1: right - 2.0,
        y1: bottom - 2.0,
    };
    let mut markers: Vec<Rect> = centres
        .iter()
        .map(|&(x, y)| Rect {
            x0: x - 7.0,
            y0: y - 7.0,
            x1: x + 7.0,
            y1: y + 7.0,
        })
        .collect();
    // The family's dashed line, as small boxes along it: a label that
    // crosses it is avoided like one over a marker.
    for pair in family.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let steps = ((x1 - x0).hypot(y1 - y0) / 4.0).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            markers.push(Rect {
                x0: x - 1.5,
                y0: y - 1.5,
                x1: x + 1.5,
                y1: y + 1.5,
            });
        }
    }
    let mut placed: Vec<Rect> = Vec::new();
    for (p, &(x, y)) in points.iter().zip(&centres) {
        let w = p.label.chars().count() as f64 * FONT * GLYPH;
        let h = FONT + 2.0;
        // (dx, dy) of the text's baseline start, as a box's left/top offset.
        let candidates = [
            (10.0, -h / 2.0),       // right
            (-10.0 - w, -h / 2.0),  // left
            (-w / 2.0, -10.0 - h),  // above
            (-w / 2.0, 10.0),       // below
            (8.0, -6.0 - h),        // upper right
            (8.0, 6.0),             // lower right
            (-8.0 - w, -6.0 - h),   // upper left
            (-8.0 - w, 6.0),        // lower left
            (10.0, -h - 14.0),      // further up, right
            (10.0, 14.0),           // further down, right
            (-10.0 - w, -h - 14.0), // further up, left
            (-10.0 - w, 14.0),      // further down, left
        ];
        let mut best: Option<(f64, Rect)> = None;
        for (dx, dy) in candidates {
            let r = Rect {
                x0: x + dx,
                y0: y + dy,
                x1: x + dx + w,
                y1: y + dy + h,
            };
            let cost: f64 = placed
                .iter()
                .chain(&markers)
                .map(|o| r.overlap(o))
                .sum::<f64>()
                + r.outside(&area) * 10.0;
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, r));
            }
            if cost == 0.0 {
                break;
            }
        }
        let Some((_, r)) = best else { continue };
        placed.push(r);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="{}">{}</text>"#,
            r.x0,
            r.y1 - 3.5,
            color(p.kind),
            esc(&p.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "model,board,instructions,macs,flash_code_bytes,flash_weight_bytes,ram_static_bytes,stack_peak_bytes,outputs_match\n\
        resnet8,mps2-an386,15148725,12501632,47524,88016,19472,10088,true\n\
        attonet_d,virt,20055099,2799152,75494,39756,11280,8384,true\n";

    #[test]
    fn results_rows_are_found_by_model_and_board() {
        let rows = parse_results(CSV).unwrap();
        assert_eq!(
            instructions(&rows, "resnet8", "mps2-an386").unwrap(),
            15_148_725
        );
        assert_eq!(
            instructions(&rows, "attonet_d", "virt").unwrap(),
            20_055_099
        );
        let missing = instructions(&rows, "attonet_d", "mps2-an386").unwrap_err();
        let text = format!("{missing:#}");
        assert!(
            text.contains("no row for attonet_d on mps2-an386"),
            "{text}"
        );
        assert!(
            text.contains("bench-qemu --model attonet_d --board mps2-an386"),
            "{text}"
        );
    }

    #[test]
    fn malformed_results_are_refused() {
        assert!(parse_results("").is_err());
        assert!(parse_results("model,instructions\nresnet8,1\n").is_err());
        assert!(parse_results("model,board,instructions\nresnet8,virt\n").is_err());
        assert!(parse_results("model,board,instructions\nresnet8,virt,many\n").is_err());
    }

    #[test]
    fn cards_give_their_int8_top1() {
        let card =
            r#"{"title": "AttoNet-D", "figures": {"float_top1": 87.41, "int8_top1": 87.17}}"#;
        assert_eq!(card_int8_top1(card).unwrap(), 87.17);
        assert!(card_int8_top1(r#"{"figures": {"float_top1": 87.41}}"#).is_err());
        assert!(card_int8_top1("not json").is_err());
    }

    #[test]
    fn second_task_cards_give_accuracy_and_their_m4_count() {
        let card = r#"{"figures": {"int8_top1": 88.73, "qemu": {"board": "mps2-an386",
            "instructions": 727049}}}"#;
        assert_eq!(card_point(card).unwrap(), (88.73, 727049));
        let other = r#"{"figures": {"int8_top1": 88.73, "qemu": {"board": "virt",
            "instructions": 1}}}"#;
        assert!(card_point(other).is_err());
        assert!(card_point(r#"{"figures": {"int8_top1": 88.73}}"#).is_err());
        // The committed family: every card has both.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for (folder, _, _) in SECOND_TASK_ENTRIES {
            let path = format!("{}/{folder}/card.json", SECOND_TASK.0);
            let (top1, n) = card_point(&read(root, &path).unwrap()).unwrap();
            assert!((80.0..100.0).contains(&top1) && n > 100_000, "{path}");
        }
    }

    #[test]
    fn the_mlperf_readme_gives_the_reference_top1() {
        let readme = "| `resnet8_int8.tflite` | image classification, CIFAR-10, ResNet-8, int8. \
            TensorFlow Lite Micro top-1 on the 10,000 CIFAR-10 test images: 87.07 %. |";
        assert_eq!(mlperf_top1(readme).unwrap(), 87.07);
        assert!(mlperf_top1("| `kws_dscnn_int8.tflite` | top-1: 90 % |").is_err());
    }

    #[test]
    fn the_shipped_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let acc = accuracies(root).unwrap();
        assert_eq!(acc.len(), ENTRIES.len());
        assert!(acc.iter().all(|a| (80.0..100.0).contains(a)), "{acc:?}");
        let rows = parse_results(&read(root, "benches/qemu/results.csv").unwrap()).unwrap();
        for e in &ENTRIES {
            instructions(&rows, e.model, PLOTS[0].0).unwrap();
        }
    }

    #[test]
    fn ticks_cover_the_range() {
        let (first, step, n) = ticks(8.1, 22.3);
        assert!(first <= 8.1 && first + step * (n - 1) as f64 >= 22.3);
        assert!((4..=10).contains(&n), "{n}");
        let (first, step, n) = ticks(86.4, 90.1);
        assert_eq!((first, step, n), (86.0, 0.5, 10));
    }
}

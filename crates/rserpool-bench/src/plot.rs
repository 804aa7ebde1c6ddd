//! Figures 5 and 6 of the paper from benchmark rows: operations per PE and
//! second against the number of PEs, means with 95 % confidence intervals.
//!
//! Text needs a TrueType font for both PNG and SVG (label sizes are
//! measured with it). None is compiled in: a font from a Debian package is
//! looked up at run time, or `RSERPOOL_FONT` names one.

use super::cells::{Cell, Operation};
use super::csv::Row;
use super::stats::mean_ci;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Fonts tried in order: fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf.
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// The figures: file stem, title, and the operations of the left and
/// right panels.
const FIGURES: [(&str, &str, [Operation; 2]); 2] = [
    (
        "figure5",
        "Registration/deregistration and re-registration",
        [Operation::RegDereg, Operation::ReReg],
    ),
    (
        "figure6",
        "Timer handling and handle resolution",
        [Operation::Timer, Operation::HandleResolution],
    ),
];

/// Loads and registers the font once per process (for every figure the
/// benchmarks draw); the error says where it looked.
pub(super) fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let from_env = std::env::var("RSERPOOL_FONT").ok();
        let candidates = from_env.iter().map(String::as_str).chain(FONT_PATHS);
        for path in candidates {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                    .map_err(|_| format!("{path}: not a usable TrueType font"));
            }
        }
        Err(format!(
            "no font found for plot text: install fonts-dejavu-core or set RSERPOOL_FONT \
             (looked at {})",
            FONT_PATHS.join(", ")
        ))
    })
    .clone()
}

/// One line of a panel: implementation and cell, with (N, mean, half-width)
/// points in per-PE units.
#[derive(Debug)]
struct Series {
    label: String,
    implementation: String,
    cell: Cell,
    points: Vec<(f64, f64, f64)>,
}

fn series_for(rows: &[Row], operation: Operation) -> Vec<Series> {
    let mut groups: BTreeMap<(String, Cell), BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.cell.operation == operation) {
        groups
            .entry((r.implementation.clone(), r.cell))
            .or_default()
            .entry(r.pool_size)
            .or_default()
            .push(r.ops_per_sec / r.pool_size.max(1) as f64);
    }
    groups
        .into_iter()
        .map(|((implementation, cell), by_size)| Series {
            label: match cell.variant {
                super::cells::Variant::None => format!("{implementation} {}", cell.policy.name()),
                v => format!("{implementation} {} {v}", cell.policy.name()),
            },
            implementation,
            cell,
            points: by_size
                .into_iter()
                .filter_map(|(n, s)| mean_ci(&s).map(|ci| (n as f64, ci.mean, ci.half_width)))
                .collect(),
        })
        .collect()
}

/// Each implementation its own colour family (this project's blues and
/// greens, RSPLIB's reds and oranges), a cell a shade within it: the two
/// are told apart at a glance, and the cells within each.
fn colour(implementation: &str, cell_index: usize, cells: usize) -> RGBAColor {
    let t = if cells > 1 {
        cell_index as f64 / (cells - 1) as f64
    } else {
        0.0
    };
    let (hue, saturation) = if implementation.starts_with("rsplib") {
        (0.0 + 0.11 * t, 0.85)
    } else {
        (0.62 - 0.22 * t, 0.75)
    };
    let lightness = 0.28 + 0.3 * ((cell_index % 3) as f64 / 2.0);
    HSLColor(hue, saturation, lightness).to_rgba()
}

fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    rows: &[Row],
    operation: Operation,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    // The legend gets a column of its own, so it never covers a curve.
    let width = i32::try_from(panel.dim_in_pixel().0).unwrap_or(800);
    let (area, legend) = panel.split_horizontally(width * 7 / 10);
    let series = series_for(rows, operation);
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let y_min = all
        .clone()
        .map(|p| (p.1 - p.2).max(p.1 * 0.5))
        .fold(f64::INFINITY, f64::min);
    let y_max = all.map(|p| p.1 + p.2).fold(0.0, f64::max);
    let (y_min, y_max) = if y_max > 0.0 && y_min.is_finite() && y_min > 0.0 {
        (y_min * 0.8, y_max * 1.25)
    } else {
        (0.1, 10.0)
    };
    let mut chart = ChartBuilder::on(&area)
        .caption(operation.name(), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max * 1.05, (y_min..y_max).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("number of PEs")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .y_desc("operations per PE and second")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    let mut cells: Vec<Cell> = series.iter().map(|s| s.cell).collect();
    cells.sort();
    cells.dedup();
    let mut keys = Vec::new();
    for s in &series {
        let colour_index = cells.binary_search(&s.cell).unwrap_or(0);
        let color = colour(&s.implementation, colour_index, cells.len());
        keys.push((s.label.clone(), color, s.implementation == "rsplib"));
        let style = color.stroke_width(if s.implementation == "rserpool" { 3 } else { 2 });
        let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
        let drawn = if s.implementation == "rsplib" {
            chart.draw_series(DashedLineSeries::new(line, 8, 5, style))
        } else {
            chart.draw_series(LineSeries::new(line, style))
        };
        drawn.map_err(|e| e.to_string())?;
        chart
            .draw_series(s.points.iter().map(|&(n, mean, hw)| {
                ErrorBar::new_vertical(
                    n,
                    (mean - hw).max(y_min),
                    mean,
                    mean + hw,
                    color.filled(),
                    6,
                )
            }))
            .map_err(|e| e.to_string())?;
        // Markers tell the ordered-set families apart within a colour.
        let marks = s.points.iter().map(|&(n, mean, _)| (n, mean));
        match s.implementation.as_str() {
            "rserpool-rbtree" => chart
                .draw_series(marks.map(|p| TriangleMarker::new(p, 6, color.filled())))
                .map(|_| ()),
            "rserpool-treap" => chart
                .draw_series(marks.map(|p| Cross::new(p, 5, color.stroke_width(2))))
                .map(|_| ()),
            _ => Ok(()),
        }
        .map_err(|e| e.to_string())?;
    }
    draw_legend(&legend, &keys)
}

/// One row per series: a line sample (dashed for RSPLIB) and its label.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[(String, RGBAColor, bool)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let top = 60;
    let row = 18;
    for (i, (label, color, dashed)) in keys.iter().enumerate() {
        let y = top + row * i32::try_from(i).unwrap_or(0);
        let style = color.stroke_width(3);
        let segments: Vec<((i32, i32), (i32, i32))> = if *dashed {
            vec![((4, y), (12, y)), ((17, y), (25, y))]
        } else {
            vec![((4, y), (25, y))]
        };
        for (a, b) in segments {
            area.draw(&PathElement::new(vec![a, b], style))
                .map_err(|e| e.to_string())?;
        }
        area.draw(&Text::new(
            label.clone(),
            (32, y - 7),
            ("sans-serif", 13).into_font().color(&BLACK),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    rows: &[Row],
    operations: [Operation; 2],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    draw_panel(&left, rows, operations[0])?;
    draw_panel(&right, rows, operations[1])?;
    root.present().map_err(|e| e.to_string())
}

/// Writes figure5 and figure6 as PNG and SVG into `dir`; returns the files.
pub fn plot_figures(rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, String> {
    ensure_font()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let size = (1600, 800);
    let mut written = Vec::new();
    for (stem, title, operations) in FIGURES {
        let svg = dir.join(format!("{stem}.svg"));
        draw_figure(
            SVGBackend::new(&svg, size).into_drawing_area(),
            title,
            rows,
            operations,
        )
        .map_err(|e| format!("{}: {e}", svg.display()))?;
        written.push(svg);
        let png = dir.join(format!("{stem}.png"));
        draw_figure(
            BitMapBackend::new(&png, size).into_drawing_area(),
            title,
            rows,
            operations,
        )
        .map_err(|e| format!("{}: {e}", png.display()))?;
        written.push(png);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::cells::{PolicyName, Variant};
    use super::*;

    fn row(implementation: &str, n: usize, rate: f64) -> Row {
        Row {
            implementation: implementation.into(),
            cell: Cell {
                operation: Operation::HandleResolution,
                policy: PolicyName::Random,
                variant: Variant::Items(2),
            },
            pool_size: n,
            ops_per_sec: rate,
            repetition: 1,
        }
    }

    #[test]
    fn series_are_per_pe_means_by_implementation_and_cell() {
        let rows = [
            row("rserpool", 100, 1000.0),
            row("rserpool", 100, 3000.0),
            row("rserpool", 200, 4000.0),
            row("rsplib", 100, 500.0),
        ];
        let s = series_for(&rows, Operation::HandleResolution);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].label, "rserpool Random h=2");
        // (1000 + 3000) / 2 / 100 PEs = 20 per PE and second
        assert_eq!(s[0].points[0].0, 100.0);
        assert_eq!(s[0].points[0].1, 20.0);
        assert!(s[0].points[0].2 > 0.0);
        assert_eq!(s[0].points[1], (200.0, 20.0, 0.0));
        assert_eq!(s[1].implementation, "rsplib");
        assert!(series_for(&rows, Operation::Sync).is_empty());
    }
}

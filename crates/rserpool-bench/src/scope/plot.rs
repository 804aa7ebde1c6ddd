//! Figures 7 and 8 of the paper: registrar CPU utilisation against the
//! number of PEs and of registrars (7), and of PUs with resolutions at
//! PR #1 or PR #2 (8); means with 95 % confidence intervals. Drawn like
//! the handlespace figures (plotters, PNG and SVG, a run-time font).

use super::super::plot::ensure_font;
use super::super::stats::mean_ci;
use super::report::Row;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panel {
    /// Figure 7 left: CPU against PEs, per a.
    Pes,
    /// Figure 7 right: CPU against registrars, per a.
    Registrars,
    /// Figure 8: CPU against PUs, per r and policy, resolutions at this PR.
    Pus(usize),
}

impl Panel {
    fn title(self) -> String {
        match self {
            Panel::Pes => "Pool elements (PEs at PR #1)".into(),
            Panel::Registrars => "Registrars (PEs at PR #1)".into(),
            Panel::Pus(pr) => format!("Pool users (handle resolutions at PR #{pr})"),
        }
    }

    fn x_desc(self) -> &'static str {
        match self {
            Panel::Pes => "number of PEs",
            Panel::Registrars => "number of registrars",
            Panel::Pus(_) => "number of PUs",
        }
    }

    fn takes(self, r: &Row) -> bool {
        match self {
            // The `max` search has its own figure-less verdict.
            Panel::Pes => r.point.pus == 0 && !matches!(r.scenario.as_str(), "registrars" | "max"),
            Panel::Registrars => r.scenario == "registrars",
            Panel::Pus(pr) => r.point.pus > 0 && r.point.pu_registrar.only() == Some(pr),
        }
    }

    fn x(self, r: &Row) -> usize {
        match self {
            Panel::Pes => r.point.pes,
            Panel::Registrars => r.point.registrars,
            Panel::Pus(_) => r.point.pus,
        }
    }

    /// What tells a panel's lines apart besides the registrar: the
    /// interval (a or r), and in figure 8 the policy.
    fn family(self, r: &Row) -> (u64, &'static str) {
        match self {
            Panel::Pes | Panel::Registrars => (r.point.rereg_ms, ""),
            Panel::Pus(_) => (r.point.resolve_ms, r.point.policy.name()),
        }
    }
}

/// One line: (x, mean, half-width) of one registrar's CPU utilisation.
/// Lines of one family share a colour; PR #2's is dashed.
#[derive(Debug)]
struct Series {
    family: (u64, &'static str),
    pr: usize,
    label: String,
    points: Vec<(f64, f64, f64)>,
}

fn series_for(rows: &[Row], panel: Panel) -> Vec<Series> {
    type Key = ((u64, &'static str), usize);
    let mut groups: BTreeMap<Key, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for r in rows.iter().filter(|r| panel.takes(r)) {
        for pr in [1, 2] {
            if let Some(cpu) = r.cpu_of(pr) {
                groups
                    .entry((panel.family(r), pr))
                    .or_default()
                    .entry(panel.x(r))
                    .or_default()
                    .push(cpu);
            }
        }
    }
    groups
        .into_iter()
        .map(|((family, pr), by_x)| Series {
            family,
            pr,
            label: match (panel, family) {
                (Panel::Pus(_), (ms, policy)) => format!("PR #{pr}, r={ms} ms, {policy}"),
                (_, (ms, _)) => format!("PR #{pr}, a={ms} ms"),
            },
            points: by_x
                .into_iter()
                .filter_map(|(x, v)| mean_ci(&v).map(|ci| (x as f64, ci.mean, ci.half_width)))
                .collect(),
        })
        .collect()
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[Row],
    panel: Panel,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let series = series_for(rows, panel);
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = all.clone().map(|p| p.0).fold(0.0, f64::max);
    let x_max = if x_max > 0.0 { x_max } else { 10.0 };
    let y_max = all.map(|p| p.1 + p.2).fold(10.0, f64::max) * 1.15;
    let caption = if series.is_empty() {
        format!("{} (no data)", panel.title())
    } else {
        panel.title()
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max * 1.05, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(panel.x_desc())
        .y_desc("CPU utilisation [%]")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    let mut families: Vec<(u64, &str)> = series.iter().map(|s| s.family).collect();
    families.dedup();
    for s in &series {
        let colour_index = families.iter().position(|f| *f == s.family).unwrap_or(0);
        let color = Palette99::pick(colour_index).to_rgba();
        let style = color.stroke_width(2);
        let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
        let dashed = s.pr == 2;
        let drawn = if dashed {
            chart.draw_series(DashedLineSeries::new(line, 8, 5, style))
        } else {
            chart.draw_series(LineSeries::new(line, style))
        };
        drawn
            .map_err(|e| e.to_string())?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                // A dash of 18 without gaps is a solid line.
                let (dash, gap) = if dashed { (5, 3) } else { (18, 0) };
                plotters::element::DashedPathElement::new(
                    vec![(x, y), (x + 18, y)],
                    dash,
                    gap,
                    color.stroke_width(2),
                )
            });
        chart
            .draw_series(s.points.iter().map(|&(x, mean, hw)| {
                ErrorBar::new_vertical(x, (mean - hw).max(0.0), mean, mean + hw, color.filled(), 6)
            }))
            .map_err(|e| e.to_string())?;
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 11))
            .margin(6)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    rows: &[Row],
    panels: [Panel; 2],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    draw_panel(&left, rows, panels[0])?;
    draw_panel(&right, rows, panels[1])?;
    root.present().map_err(|e| e.to_string())
}

const FIGURES: [(&str, &str, [Panel; 2]); 2] = [
    (
        "figure7",
        "Registrar CPU utilisation for pool maintenance",
        [Panel::Pes, Panel::Registrars],
    ),
    (
        "figure8",
        "Registrar CPU utilisation for handle resolution",
        [Panel::Pus(1), Panel::Pus(2)],
    ),
];

/// Writes figure7 and figure8 as PNG and SVG into `dir`; returns the files.
pub fn plot_figures(rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, String> {
    ensure_font()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let size = (1600, 800);
    let mut written = Vec::new();
    for (stem, title, panels) in FIGURES {
        let svg = dir.join(format!("{stem}.svg"));
        draw_figure(
            SVGBackend::new(&svg, size).into_drawing_area(),
            title,
            rows,
            panels,
        )
        .map_err(|e| format!("{}: {e}", svg.display()))?;
        written.push(svg);
        let png = dir.join(format!("{stem}.png"));
        draw_figure(
            BitMapBackend::new(&png, size).into_drawing_area(),
            title,
            rows,
            panels,
        )
        .map_err(|e| format!("{}: {e}", png.display()))?;
        written.push(png);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::report::tests::row;
    use super::*;

    #[test]
    fn figure7_series_are_per_registrar_and_interval() {
        let mut slow = row(100, 1, 4.0);
        slow.point.rereg_ms = 1000;
        let rows = vec![
            row(100, 1, 10.0),
            row(100, 2, 14.0),
            row(200, 1, 20.0),
            slow,
        ];
        let s = series_for(&rows, Panel::Pes);
        assert_eq!(s.len(), 4);
        // numeric order of a, PR #1 before PR #2
        assert_eq!(s[0].label, "PR #1, a=250 ms");
        assert_eq!(s[1].label, "PR #2, a=250 ms");
        assert_eq!(s[2].label, "PR #1, a=1000 ms");
        assert_eq!(s[0].family, s[1].family);
        assert_eq!(s[0].points.len(), 2);
        assert_eq!(s[0].points[0].0, 100.0);
        assert_eq!(s[0].points[0].1, 12.0);
        assert!(s[0].points[0].2 > 0.0);
        assert_eq!(s[1].points[1], (200.0, 5.0, 0.0)); // PR #2 at a quarter
        assert!(series_for(&rows, Panel::Registrars).is_empty());
        assert!(series_for(&rows, Panel::Pus(1)).is_empty());
    }

    #[test]
    fn figure8_separates_the_resolving_registrar() {
        let mut a = row(1000, 1, 30.0);
        a.point.pus = 500;
        a.point.pu_registrar = super::super::assignment::Assignment::PR2;
        a.point.policy = rserpool_proto::wire::PolicyType::Random;
        let s = series_for(&[a], Panel::Pus(2));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].label, "PR #1, r=1000 ms, Random");
        assert_eq!(s[1].pr, 2);
        assert_eq!(s[0].points[0].0, 500.0);
        assert!(series_for(&[row(1000, 1, 1.0)], Panel::Pus(2)).is_empty());
    }
}

//! The result CSV (one line per repetition) and the summary table (means
//! with 95 % confidence intervals per point).

use super::super::stats::mean_ci;
use super::scenario::Point;
use rserpool_proto::wire::PolicyType;
use std::fmt;

/// The columns before `cpu_system_pct` was added (files with only these
/// still parse).
macro_rules! header_29 {
    () => {
        "scenario,mode,transport,registrars,pes,rereg_interval_ms,pus,\
resolve_interval_ms,policy,pe_registrar,pu_registrar,repetition,window_s,\
offered_rereg_per_s,rereg_per_s,offered_resolutions_per_s,resolutions_per_s,\
reg_p50_ms,reg_p99_ms,res_p50_ms,res_p99_ms,errors,skipped,\
cpu_pr1_pct,cpu_pr2_pct,cpu_prs_pct,cpu_generator_pct,updates_missing,verified"
    };
}

pub const HEADER: &str = concat!(header_29!(), ",cpu_system_pct");

const HEADER_29: &str = header_29!();

const COLUMNS: usize = 30;

/// One repetition of one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub scenario: String,
    /// `netns`, `loopback` or `target`.
    pub mode: String,
    pub transport: String,
    pub point: Point,
    pub repetition: u32,
    pub window_s: f64,
    pub rereg_per_s: f64,
    pub resolutions_per_s: f64,
    pub reg_p50_ms: Option<f64>,
    pub reg_p99_ms: Option<f64>,
    pub res_p50_ms: Option<f64>,
    pub res_p99_ms: Option<f64>,
    pub errors: u64,
    pub skipped: u64,
    /// Per registrar, in percent of one core; `None` where unknown.
    pub cpu: Vec<Option<f64>>,
    pub generator_cpu: Option<f64>,
    /// The whole machine's busy time, in percent of one core: the fair
    /// total over loopback, where a send carries the receiver's work.
    pub system_cpu: Option<f64>,
    /// Handle Updates that did not reach a peer (summed over peers).
    pub updates_missing: Option<u64>,
    pub verified: Option<bool>,
}

impl Row {
    pub fn cpu_of(&self, registrar: usize) -> Option<f64> {
        self.cpu.get(registrar.wrapping_sub(1)).copied().flatten()
    }
}

struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => {
                if let Some(p) = f.precision() {
                    write!(f, "{v:.p$}")
                } else {
                    write!(f, "{v}")
                }
            }
            None => Ok(()),
        }
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.point;
        let prs: Vec<String> = self
            .cpu
            .iter()
            .map(|c| c.map_or(String::new(), |c| format!("{c:.2}")))
            .collect();
        write!(
            f,
            "{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{:.1},{:.1},{:.1},{:.1},",
            self.scenario,
            self.mode,
            self.transport,
            p.registrars,
            p.pes,
            p.rereg_ms,
            p.pus,
            p.resolve_ms,
            p.policy.name(),
            p.pe_registrar,
            p.pu_registrar,
            self.repetition,
            self.window_s,
            p.offered_rereg_per_s(),
            self.rereg_per_s,
            p.offered_res_per_s(),
            self.resolutions_per_s,
        )?;
        write!(
            f,
            "{:.3},{:.3},{:.3},{:.3},{},{},{:.2},{:.2},{},{:.2},{},{},{:.2}",
            Opt(self.reg_p50_ms),
            Opt(self.reg_p99_ms),
            Opt(self.res_p50_ms),
            Opt(self.res_p99_ms),
            self.errors,
            self.skipped,
            Opt(self.cpu_of(1)),
            Opt(self.cpu_of(2)),
            prs.join(";"),
            Opt(self.generator_cpu),
            Opt(self.updates_missing),
            match self.verified {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            },
            Opt(self.system_cpu),
        )
    }
}

/// Parses a CSV written with [`HEADER`].
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate();
    let columns = match lines.next() {
        Some((_, h)) if h.trim_end() == HEADER => COLUMNS,
        Some((_, h)) if h.trim_end() == HEADER_29 => COLUMNS - 1,
        _ => return Err(format!("line 1: expected the header `{HEADER}`")),
    };
    lines
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| parse_row(l, columns).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

fn parse_row(line: &str, columns: usize) -> Result<Row, String> {
    let f: Vec<&str> = line.trim_end().split(',').collect();
    if f.len() != columns {
        return Err(format!("{} columns, expected {columns}", f.len()));
    }
    fn num<T: std::str::FromStr>(f: &[&str], i: usize) -> Result<T, String> {
        f[i].parse()
            .map_err(|_| format!("column {} is `{}`, not a number", i + 1, f[i]))
    }
    fn opt(f: &[&str], i: usize) -> Result<Option<f64>, String> {
        if f[i].is_empty() {
            Ok(None)
        } else {
            num(f, i).map(Some)
        }
    }
    let policy = PolicyType::from_name(f[8]).ok_or_else(|| format!("unknown policy `{}`", f[8]))?;
    let cpu = if f[25].is_empty() {
        Vec::new()
    } else {
        f[25]
            .split(';')
            .map(|c| {
                if c.is_empty() {
                    Ok(None)
                } else {
                    c.parse()
                        .map(Some)
                        .map_err(|_| format!("bad CPU figure `{c}`"))
                }
            })
            .collect::<Result<Vec<_>, String>>()?
    };
    Ok(Row {
        scenario: f[0].to_string(),
        mode: f[1].to_string(),
        transport: f[2].to_string(),
        point: Point {
            registrars: num(&f, 3)?,
            pes: num(&f, 4)?,
            rereg_ms: num(&f, 5)?,
            pus: num(&f, 6)?,
            resolve_ms: num(&f, 7)?,
            policy,
            pe_registrar: f[9].parse()?,
            pu_registrar: f[10].parse()?,
        },
        repetition: num(&f, 11)?,
        window_s: num(&f, 12)?,
        rereg_per_s: num(&f, 14)?,
        resolutions_per_s: num(&f, 16)?,
        reg_p50_ms: opt(&f, 17)?,
        reg_p99_ms: opt(&f, 18)?,
        res_p50_ms: opt(&f, 19)?,
        res_p99_ms: opt(&f, 20)?,
        errors: num(&f, 21)?,
        skipped: num(&f, 22)?,
        cpu,
        generator_cpu: opt(&f, 26)?,
        system_cpu: if columns > 29 { opt(&f, 29)? } else { None },
        updates_missing: opt(&f, 27)?.map(|v| v as u64),
        verified: match f[28] {
            "yes" => Some(true),
            "no" => Some(false),
            "unknown" => None,
            v => return Err(format!("verified is `{v}`: expected yes, no or unknown")),
        },
    })
}

/// `mean ± half-width` of the present values; `-` if none.
fn cell(values: impl Iterator<Item = Option<f64>>, precision: usize) -> String {
    let v: Vec<f64> = values.flatten().collect();
    match mean_ci(&v) {
        Some(ci) if v.len() > 1 => {
            format!("{:.p$} ± {:.p$}", ci.mean, ci.half_width, p = precision)
        }
        Some(ci) => format!("{:.p$}", ci.mean, p = precision),
        None => "-".into(),
    }
}

/// One line per point: means and 95 % confidence intervals over the
/// repetitions.
pub fn summary(rows: &[Row]) -> String {
    let mut groups: Vec<(&Row, Vec<&Row>)> = Vec::new();
    for r in rows {
        match groups
            .iter_mut()
            .find(|(first, _)| first.point == r.point && first.scenario == r.scenario)
        {
            Some((_, g)) => g.push(r),
            None => groups.push((r, vec![r])),
        }
    }
    let mut out = String::from(
        "k   PEs    a/ms  PUs   r/ms  policy      rereg/s            res/s            \
         PR1 CPU %      PR2 CPU %      gen CPU %      system CPU %   reg p99 ms  errors verified\n",
    );
    for (first, g) in groups {
        let p = first.point;
        let verified = if g.iter().all(|r| r.verified == Some(true)) {
            "yes"
        } else if g.iter().any(|r| r.verified == Some(false)) {
            "NO"
        } else {
            "unknown"
        };
        out.push_str(&format!(
            "{:<3} {:<6} {:<5} {:<5} {:<5} {:<11} {:<18} {:<16} {:<14} {:<14} {:<14} {:<14} {:<11} {:<6} {}\n",
            p.registrars,
            p.pes,
            p.rereg_ms,
            p.pus,
            p.resolve_ms,
            p.policy.name(),
            cell(g.iter().map(|r| Some(r.rereg_per_s)), 0),
            cell(g.iter().map(|r| Some(r.resolutions_per_s)), 0),
            cell(g.iter().map(|r| r.cpu_of(1)), 1),
            cell(g.iter().map(|r| r.cpu_of(2)), 1),
            cell(g.iter().map(|r| r.generator_cpu), 1),
            cell(g.iter().map(|r| r.system_cpu), 1),
            cell(g.iter().map(|r| r.reg_p99_ms), 2),
            g.iter().map(|r| r.errors).sum::<u64>(),
            verified,
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::super::assignment::Assignment;
    use super::*;

    pub fn row(pes: usize, rep: u32, cpu1: f64) -> Row {
        Row {
            scenario: "pes".into(),
            mode: "loopback".into(),
            transport: "tcp".into(),
            point: Point {
                registrars: 2,
                pes,
                rereg_ms: 250,
                pus: 0,
                resolve_ms: 1000,
                policy: PolicyType::RoundRobin,
                pe_registrar: Assignment::PR1,
                pu_registrar: Assignment::PR1,
            },
            repetition: rep,
            window_s: 10.0,
            rereg_per_s: pes as f64 * 4.0,
            resolutions_per_s: 0.0,
            reg_p50_ms: Some(0.2),
            reg_p99_ms: Some(1.25),
            res_p50_ms: None,
            res_p99_ms: None,
            errors: 0,
            skipped: 0,
            cpu: vec![Some(cpu1), Some(cpu1 / 4.0)],
            generator_cpu: Some(3.5),
            system_cpu: Some(20.0),
            updates_missing: Some(0),
            verified: Some(true),
        }
    }

    #[test]
    fn csv_round_trip() {
        let rows = vec![row(100, 1, 10.0), row(100, 2, 12.0)];
        let mut text = format!("{HEADER}\n");
        for r in &rows {
            text.push_str(&format!("{r}\n"));
        }
        assert_eq!(text.lines().nth(1).unwrap().split(',').count(), COLUMNS);
        assert_eq!(parse(&text).unwrap(), rows);
    }

    #[test]
    fn unknown_values_stay_unknown() {
        let mut r = row(100, 1, 10.0);
        r.cpu = vec![None, None];
        r.generator_cpu = None;
        r.system_cpu = None;
        r.updates_missing = None;
        r.verified = None;
        r.reg_p99_ms = None;
        let text = format!("{HEADER}\n{r}\n");
        assert_eq!(parse(&text).unwrap(), vec![r]);
    }

    #[test]
    fn files_from_before_the_system_column_still_parse() {
        let mut r = row(100, 1, 10.0);
        r.system_cpu = None;
        let line = r.to_string();
        let old = line.strip_suffix(',').unwrap();
        assert_eq!(parse(&format!("{HEADER_29}\n{old}\n")).unwrap(), vec![r]);
        // The new header with an old line is a column short.
        assert!(
            parse(&format!("{HEADER}\n{old}\n"))
                .unwrap_err()
                .contains("columns")
        );
    }

    #[test]
    fn bad_csv_says_where() {
        assert!(parse("x\n").unwrap_err().contains("header"));
        let r = row(100, 1, 10.0)
            .to_string()
            .replace(",RoundRobin,", ",Fastest,");
        assert!(
            parse(&format!("{HEADER}\n{r}\n"))
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn summary_has_means_and_intervals() {
        let rows = vec![row(100, 1, 10.0), row(100, 2, 12.0), row(200, 1, 20.0)];
        let s = summary(&rows);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        // mean 11, sd sqrt 2, t(1) = 12.706: 12.706 * sqrt(2) / sqrt(2) = 12.7
        assert!(lines[1].contains("11.0 ± 12.7"), "{}", lines[1]);
        assert!(lines[2].contains("20.0 "), "{}", lines[2]);
        assert!(lines[1].ends_with("yes"));
    }
}

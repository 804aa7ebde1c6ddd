//! Per-cell medians of our implementations against RSPLIB's.

use super::cells::Cell;
use super::csv::Row;
use super::stats::median;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Medians keyed by (implementation, cell, pool size).
fn medians(rows: &[Row]) -> BTreeMap<(String, Cell, usize), f64> {
    let mut samples: BTreeMap<(String, Cell, usize), Vec<f64>> = BTreeMap::new();
    for r in rows {
        samples
            .entry((r.implementation.clone(), r.cell, r.pool_size))
            .or_default()
            .push(r.ops_per_sec);
    }
    samples
        .into_iter()
        .filter_map(|(k, v)| median(&v).map(|m| (k, m)))
        .collect()
}

/// A table with one line per (implementation, cell, pool size) of `ours`:
/// our median, RSPLIB's median for the same cell and size, and the ratio
/// (ours / RSPLIB; above 1 is faster). Cells RSPLIB lacks show `-`.
pub fn compare_table(ours: &[Row], rsplib: &[Row]) -> String {
    let theirs: BTreeMap<(Cell, usize), f64> = medians(rsplib)
        .into_iter()
        .map(|((_, cell, n), m)| ((cell, n), m))
        .collect();
    let mut out = String::from(
        "impl             operation         policy      variant    pool_size       ours     rsplib  ratio\n",
    );
    for ((implementation, cell, n), m) in medians(ours) {
        let (r, ratio) = match theirs.get(&(cell, n)) {
            Some(&t) if t > 0.0 => (fmt_rate(t), format!("{:.2}", m / t)),
            _ => ("-".to_string(), "-".to_string()),
        };
        let _ = writeln!(
            out,
            "{:<16} {:<17} {:<11} {:<10} {:>9} {:>10} {:>10} {:>6}",
            implementation,
            cell.operation.name(),
            cell.policy.name(),
            cell.variant.to_string(),
            n,
            fmt_rate(m),
            r,
            ratio
        );
    }
    out
}

/// 1234567 -> "1.23M", 45678 -> "45.7k", like RSPLIB's README table.
pub fn fmt_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::cells::{Operation, PolicyName, Variant};
    use super::*;

    fn row(implementation: &str, n: usize, rate: f64, rep: u32) -> Row {
        Row {
            implementation: implementation.into(),
            cell: Cell {
                operation: Operation::Sync,
                policy: PolicyName::RoundRobin,
                variant: Variant::None,
            },
            pool_size: n,
            ops_per_sec: rate,
            repetition: rep,
        }
    }

    #[test]
    fn medians_and_ratio_per_cell() {
        let ours = [
            row("rserpool", 1000, 300.0, 1),
            row("rserpool", 1000, 100.0, 2),
            row("rserpool", 1000, 200.0, 3),
            row("rserpool", 5000, 50.0, 1),
        ];
        let rsplib = [row("rsplib", 1000, 80.0, 1), row("rsplib", 1000, 120.0, 2)];
        let table = compare_table(&ours, &rsplib);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        // median 200 against median 100
        assert!(lines[1].ends_with(" 200        100   2.00"), "{}", lines[1]);
        // no RSPLIB figure for N = 5000
        assert!(lines[2].ends_with("-      -"), "{}", lines[2]);
    }

    #[test]
    fn rates_read_like_the_readme() {
        assert_eq!(fmt_rate(1_660_000.0), "1.66M");
        assert_eq!(fmt_rate(866_000.0), "866k");
        assert_eq!(fmt_rate(5052.0), "5052");
    }
}

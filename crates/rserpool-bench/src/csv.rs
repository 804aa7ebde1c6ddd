//! The result CSV: `impl,operation,policy,variant,pool_size,ops_per_sec,repetition`,
//! the format of RSPLIB's `perf/rsplib-handlespace.csv` (which has more
//! columns after these; they are ignored on reading).

use super::cells::{Cell, Operation, PolicyName, Variant};
use std::fmt;

pub const HEADER: &str = "impl,operation,policy,variant,pool_size,ops_per_sec,repetition";

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub implementation: String,
    pub cell: Cell,
    pub pool_size: usize,
    pub ops_per_sec: f64,
    pub repetition: u32,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{},{},{:.1},{}",
            self.implementation,
            self.cell.operation.name(),
            self.cell.policy.name(),
            self.cell.variant,
            self.pool_size,
            self.ops_per_sec,
            self.repetition
        )
    }
}

/// What was wrong with a CSV line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole CSV with the header above (extra trailing columns allowed).
pub fn parse(text: &str) -> Result<Vec<Row>, ParseError> {
    let mut lines = text.lines().enumerate();
    let header_ok = lines
        .next()
        .is_some_and(|(_, h)| h.trim_end().starts_with(HEADER));
    if !header_ok {
        return Err(ParseError {
            line: 1,
            reason: format!("expected a header starting with `{HEADER}`"),
        });
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        rows.push(parse_row(line).map_err(|reason| ParseError {
            line: i + 1,
            reason,
        })?);
    }
    Ok(rows)
}

fn parse_row(line: &str) -> Result<Row, String> {
    let f: Vec<&str> = line.trim_end().split(',').collect();
    if f.len() < 7 {
        return Err(format!("{} columns, expected at least 7", f.len()));
    }
    let operation =
        Operation::from_name(f[1]).ok_or_else(|| format!("unknown operation `{}`", f[1]))?;
    let policy = PolicyName::from_name(f[2]).ok_or_else(|| format!("unknown policy `{}`", f[2]))?;
    let variant = Variant::parse(f[3]).ok_or_else(|| format!("bad variant `{}`", f[3]))?;
    let pool_size = f[4]
        .parse()
        .map_err(|_| format!("bad pool_size `{}`", f[4]))?;
    let ops_per_sec: f64 = f[5]
        .parse()
        .map_err(|_| format!("bad ops_per_sec `{}`", f[5]))?;
    if !ops_per_sec.is_finite() || ops_per_sec < 0.0 {
        return Err(format!("ops_per_sec `{}` is not a rate", f[5]));
    }
    let repetition = f[6]
        .parse()
        .map_err(|_| format!("bad repetition `{}`", f[6]))?;
    Ok(Row {
        implementation: f[0].to_string(),
        cell: Cell {
            operation,
            policy,
            variant,
        },
        pool_size,
        ops_per_sec,
        repetition,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            implementation: "rserpool-treap".into(),
            cell: Cell {
                operation: Operation::HandleResolution,
                policy: PolicyName::LeastUsed,
                variant: Variant::Items(2),
            },
            pool_size: 5000,
            ops_per_sec: 1234567.891,
            repetition: 3,
        }
    }

    #[test]
    fn formats_one_line_in_column_order() {
        assert_eq!(
            row().to_string(),
            "rserpool-treap,handleresolution,LeastUsed,h=2,5000,1234567.9,3"
        );
    }

    #[test]
    fn round_trips_and_reads_rsplib_extra_columns() {
        let text = format!(
            "{HEADER},ops,wall_s,cpu_s\n{}\nrsplib,timer,RoundRobin,owned=100,1000,5261409.9,1,10522848,2.0,1.9\n",
            row()
        );
        let rows = parse(&text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cell, row().cell);
        assert!((rows[0].ops_per_sec - 1234567.9).abs() < 1e-6);
        assert_eq!(rows[1].implementation, "rsplib");
        assert_eq!(rows[1].cell.variant, Variant::Owned(100));
    }

    #[test]
    fn rejects_bad_input_with_line_number() {
        assert_eq!(parse("a,b\n").unwrap_err().line, 1);
        let e = parse(&format!("{HEADER}\nx,sync,RoundRobin,-,10,-5,1\n")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("not a rate"), "{e}");
        let e = parse(&format!("{HEADER}\nx,fly,RoundRobin,-,10,5,1\n")).unwrap_err();
        assert!(e.reason.contains("unknown operation"), "{e}");
    }
}

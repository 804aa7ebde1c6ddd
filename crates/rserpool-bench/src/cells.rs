//! What one measurement is: an operation, the pool's policy and a variant,
//! and which of them a run selects.

use std::fmt;

/// The benchmarked operations (paper section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum Operation {
    RegDereg,
    ReReg,
    Timer,
    HandleResolution,
    Sync,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::RegDereg,
        Operation::ReReg,
        Operation::Timer,
        Operation::HandleResolution,
        Operation::Sync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::RegDereg => "regdereg",
            Operation::ReReg => "rereg",
            Operation::Timer => "timer",
            Operation::HandleResolution => "handleresolution",
            Operation::Sync => "sync",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// The pool policies benchmarked, named as in RSPLIB's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyName {
    RoundRobin,
    Random,
    LeastUsed,
}

impl PolicyName {
    pub const ALL: [PolicyName; 3] = [
        PolicyName::RoundRobin,
        PolicyName::Random,
        PolicyName::LeastUsed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyName::RoundRobin => "RoundRobin",
            PolicyName::Random => "Random",
            PolicyName::LeastUsed => "LeastUsed",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// The variant column: `h=K` (handle resolution), `owned=P` (timer), `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    None,
    /// PEs selected per handle resolution (MaxHResItems).
    Items(u8),
    /// Percentage of PEs owned by this registrar.
    Owned(u8),
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::None => f.write_str("-"),
            Variant::Items(h) => write!(f, "h={h}"),
            Variant::Owned(p) => write!(f, "owned={p}"),
        }
    }
}

impl Variant {
    pub fn parse(s: &str) -> Option<Self> {
        if s == "-" {
            return Some(Variant::None);
        }
        if let Some(h) = s.strip_prefix("h=") {
            return h.parse().ok().map(Variant::Items);
        }
        s.strip_prefix("owned=")?
            .parse()
            .ok()
            .filter(|p| *p <= 100)
            .map(Variant::Owned)
    }
}

/// One (operation, policy, variant) combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub operation: Operation,
    pub policy: PolicyName,
    pub variant: Variant,
}

/// The cells RSPLIB was measured on (`perf/rsplib-handlespace.csv`), in
/// its order.
pub fn rsplib_cells() -> Vec<Cell> {
    use Operation::*;
    use PolicyName::*;
    let c = |operation, policy, variant| Cell {
        operation,
        policy,
        variant,
    };
    let mut cells = vec![
        c(RegDereg, RoundRobin, Variant::None),
        c(RegDereg, Random, Variant::None),
        c(ReReg, RoundRobin, Variant::None),
        c(ReReg, Random, Variant::None),
        c(ReReg, LeastUsed, Variant::None),
        c(Timer, RoundRobin, Variant::Owned(0)),
        c(Timer, RoundRobin, Variant::Owned(100)),
    ];
    for p in [RoundRobin, Random, LeastUsed] {
        for h in 1..=3 {
            cells.push(c(HandleResolution, p, Variant::Items(h)));
        }
    }
    cells.push(c(Sync, RoundRobin, Variant::None));
    cells
}

/// The RSPLIB cells whose operation and policy were both asked for.
pub fn select_cells(ops: &[Operation], policies: &[PolicyName]) -> Vec<Cell> {
    rsplib_cells()
        .into_iter()
        .filter(|c| ops.contains(&c.operation) && policies.contains(&c.policy))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seventeen_default_cells() {
        let all = select_cells(&Operation::ALL, &PolicyName::ALL);
        assert_eq!(all.len(), 17);
        assert_eq!(all, rsplib_cells());
    }

    #[test]
    fn selection_filters_by_operation_and_policy() {
        let cells = select_cells(&[Operation::HandleResolution], &[PolicyName::Random]);
        let variants: Vec<String> = cells.iter().map(|c| c.variant.to_string()).collect();
        assert_eq!(variants, ["h=1", "h=2", "h=3"]);
        assert!(select_cells(&[Operation::Timer], &[PolicyName::LeastUsed]).is_empty());
    }

    #[test]
    fn variants_round_trip() {
        for v in [Variant::None, Variant::Items(3), Variant::Owned(100)] {
            assert_eq!(Variant::parse(&v.to_string()), Some(v));
        }
        assert_eq!(Variant::parse("owned=101"), None);
        assert_eq!(Variant::parse("h=x"), None);
        assert_eq!(Variant::parse(""), None);
    }

    #[test]
    fn names_round_trip() {
        for o in Operation::ALL {
            assert_eq!(Operation::from_name(o.name()), Some(o));
        }
        for p in PolicyName::ALL {
            assert_eq!(PolicyName::from_name(p.name()), Some(p));
        }
    }
}

//! `rserpool bench handlespace`: the handlespace throughput benchmark of
//! the paper (section 4.1), run the way RSPLIB was measured
//! (`perf/README.md`), with CSV output, comparison and figures.

mod cells;
mod compare;
mod csv;
mod driver;
mod memory;
mod plot;
mod scope;
mod stats;
mod workload;

use cells::{Cell, Operation, PolicyName};
use csv::Row;
use rserpool_proto::handlespace::set::{BTreeFamily, RbTreeFamily, SetFamily, TreapFamily};
use std::io::Write;
use std::path::PathBuf;

/// The set family names of `--set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum SetName {
    Btree,
    Rbtree,
    Treap,
}

impl SetName {
    /// The `impl` column: plain `rserpool` for the handlespace's default
    /// family.
    fn implementation(self) -> &'static str {
        match self {
            SetName::Btree => "rserpool",
            SetName::Rbtree => "rserpool-rbtree",
            SetName::Treap => "rserpool-treap",
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Handlespace operations per second (paper section 4.1), as CSV.
    Handlespace(HandlespaceArgs),
    /// Registrar CPU load against PEs, registrars and PUs (paper section 4.2), as CSV.
    Scope(scope::ScopeArgs),
    /// Bytes a registrar keeps per PE (allocated, jemalloc's count).
    Memory(memory::MemoryArgs),
}

#[derive(Debug, clap::Args)]
pub struct HandlespaceArgs {
    /// Pool sizes (number of PEs).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,5000,10000,20000,30000"
    )]
    pub sizes: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Repetitions per cell and pool size.
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// Operations to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "regdereg,rereg,timer,handleresolution,sync"
    )]
    pub ops: Vec<Operation>,
    /// Pool policies; each operation runs with those of them RSPLIB was
    /// measured with.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "RoundRobin,Random,LeastUsed"
    )]
    pub policies: Vec<PolicyName>,
    /// Ordered-set implementations to run the handlespace on.
    #[arg(
        long = "set",
        value_delimiter = ',',
        default_value = "btree,rbtree,treap"
    )]
    pub sets: Vec<SetName>,
    /// Write figure5/figure6 (PNG and SVG) into this directory.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write the CSV here instead of to standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// RSPLIB's CSV: compared against per cell, and drawn in the figures.
    #[arg(long)]
    pub rsplib: Option<PathBuf>,
    /// Measure nothing: read our results from this CSV, then compare
    /// (with --rsplib) and plot (with --plot).
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Seed of every random choice of the run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs a bench subcommand; the error is the message for the user.
pub fn run(command: BenchCommand) -> Result<(), String> {
    match command {
        BenchCommand::Handlespace(args) => handlespace(&args),
        BenchCommand::Scope(args) => scope::run(args),
        BenchCommand::Memory(args) => memory::run(&args),
    }
}

fn read_csv(path: &PathBuf) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    csv::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn validate(args: &HandlespaceArgs) -> Result<Vec<Cell>, String> {
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        return Err("--sizes: every pool size must be at least 1".into());
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        return Err(format!(
            "--seconds {}: must be a positive number",
            args.seconds
        ));
    }
    if args.reps == 0 {
        return Err("--reps: at least one repetition".into());
    }
    if args.sets.is_empty() {
        return Err("--set: name at least one set family".into());
    }
    let cells = cells::select_cells(&args.ops, &args.policies);
    if cells.is_empty() {
        return Err(
            "no cell selected: RSPLIB measured none of these operations with these policies".into(),
        );
    }
    Ok(cells)
}

fn handlespace(args: &HandlespaceArgs) -> Result<(), String> {
    let rsplib = args.rsplib.as_ref().map(read_csv).transpose()?;
    let rows = match &args.compare {
        Some(path) => read_csv(path)?,
        None => measure(args)?,
    };
    if let Some(theirs) = &rsplib {
        let table = compare::compare_table(&rows, theirs);
        // With the CSV on stdout the table goes to stderr, so both stay clean.
        if args.compare.is_some() || args.output.is_some() {
            print!("{table}");
        } else {
            eprint!("{table}");
        }
    }
    if let Some(dir) = &args.plot {
        let mut all = rows;
        all.extend(rsplib.unwrap_or_default());
        for file in plot::plot_figures(&all, dir)? {
            eprintln!("wrote {}", file.display());
        }
    }
    Ok(())
}

fn measure(args: &HandlespaceArgs) -> Result<Vec<Row>, String> {
    let cells = validate(args)?;
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; its figures mean nothing (use cargo run --release)"
        );
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let io = |e: std::io::Error| format!("writing the CSV: {e}");
    writeln!(out, "{}", csv::HEADER).map_err(io)?;
    let total = args.sets.len() * args.sizes.len() * cells.len() * args.reps as usize;
    let mut rows = Vec::with_capacity(total);
    // The set families innermost: each family's measurement of a cell runs
    // right after the others', so a drift in machine load hits all alike.
    for &size in &args.sizes {
        for &cell in &cells {
            for repetition in 1..=args.reps {
                for &set in &args.sets {
                    let seed = cell_seed(args.seed, cell, size, repetition);
                    let (ops, secs) = match set {
                        SetName::Btree => {
                            measure_cell::<BTreeFamily>(cell, size, args.seconds, seed)
                        }
                        SetName::Rbtree => {
                            measure_cell::<RbTreeFamily>(cell, size, args.seconds, seed)
                        }
                        SetName::Treap => {
                            measure_cell::<TreapFamily>(cell, size, args.seconds, seed)
                        }
                    }?;
                    let row = Row {
                        implementation: set.implementation().to_string(),
                        cell,
                        pool_size: size,
                        ops_per_sec: ops as f64 / secs,
                        repetition,
                    };
                    writeln!(out, "{row}").map_err(io)?;
                    out.flush().map_err(io)?;
                    eprintln!(
                        "[{}/{total}] {} {} {} {} N={size} rep {repetition}: {}/s",
                        rows.len() + 1,
                        row.implementation,
                        cell.operation.name(),
                        cell.policy.name(),
                        cell.variant,
                        compare::fmt_rate(row.ops_per_sec)
                    );
                    rows.push(row);
                }
            }
        }
    }
    Ok(rows)
}

/// A distinct, reproducible seed for every measurement.
fn cell_seed(base: u64, cell: Cell, size: usize, repetition: u32) -> u64 {
    let mut h = base ^ 0x6A09_E667_F3BC_C908;
    for v in [
        cell.operation as u64,
        cell.policy as u64,
        match cell.variant {
            cells::Variant::None => 0,
            cells::Variant::Items(x) => 0x100 | u64::from(x),
            cells::Variant::Owned(x) => 0x200 | u64::from(x),
        },
        size as u64,
        u64::from(repetition),
    ] {
        h = (h ^ v).wrapping_mul(0x100_0000_01B3).rotate_left(29);
    }
    h
}

/// Builds the pool for one cell, then runs its operation for `seconds`.
fn measure_cell<F: SetFamily>(
    cell: Cell,
    size: usize,
    seconds: f64,
    seed: u64,
) -> Result<(u64, f64), String> {
    let mut w = workload::Workload::<F>::build(cell, size, seed)?;
    Ok(match cell.operation {
        Operation::RegDereg => driver::run_for(seconds, || w.regdereg()),
        Operation::ReReg => driver::run_for(seconds, || w.rereg()),
        Operation::Timer => driver::run_for(seconds, || w.timer()),
        Operation::HandleResolution => driver::run_for(seconds, || w.handle_resolution()),
        Operation::Sync => driver::run_for(seconds, || w.sync()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        bench: BenchCommand,
    }

    fn parse(args: &[&str]) -> Result<HandlespaceArgs, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))?;
        let BenchCommand::Handlespace(a) = cli.bench else {
            panic!("not the handlespace command")
        };
        Ok(a)
    }

    #[test]
    fn defaults_are_the_rsplib_protocol() {
        let a = parse(&["handlespace"]).unwrap();
        assert_eq!(a.sizes, [1000, 5000, 10000, 20000, 30000]);
        assert_eq!(a.seconds, 2.0);
        assert_eq!(a.reps, 3);
        assert_eq!(a.ops, Operation::ALL);
        assert_eq!(a.policies, PolicyName::ALL);
        assert_eq!(a.sets, [SetName::Btree, SetName::Rbtree, SetName::Treap]);
        assert_eq!(validate(&a).unwrap().len(), 17);
    }

    #[test]
    fn comma_lists_and_names() {
        let a = parse(&[
            "handlespace",
            "--sizes",
            "10,20",
            "--ops",
            "handleresolution,sync",
            "--policies",
            "Random",
            "--set",
            "treap",
            "--seconds",
            "0.5",
        ])
        .unwrap();
        assert_eq!(a.sizes, [10, 20]);
        assert_eq!(a.ops, [Operation::HandleResolution, Operation::Sync]);
        assert_eq!(a.policies, [PolicyName::Random]);
        assert_eq!(a.sets, [SetName::Treap]);
        // sync was only measured with RoundRobin
        assert_eq!(validate(&a).unwrap().len(), 3);
    }

    #[test]
    fn rejects_unknown_names_and_bad_numbers() {
        assert!(parse(&["handlespace", "--ops", "fly"]).is_err());
        assert!(parse(&["handlespace", "--policies", "roundrobin"]).is_err());
        assert!(parse(&["handlespace", "--set", "skiplist"]).is_err());
        assert!(parse(&["handlespace", "--sizes", "10,x"]).is_err());
        let a = parse(&["handlespace", "--sizes", "0"]).unwrap();
        assert!(validate(&a).unwrap_err().contains("--sizes"));
        let a = parse(&["handlespace", "--seconds=-1"]).unwrap();
        assert!(validate(&a).unwrap_err().contains("--seconds"));
        let a = parse(&["handlespace", "--ops", "sync", "--policies", "Random"]).unwrap();
        assert!(validate(&a).unwrap_err().contains("no cell"));
    }

    #[test]
    fn seeds_differ_per_measurement() {
        let c = cells::rsplib_cells();
        let s = cell_seed(1, c[0], 1000, 1);
        assert_ne!(s, cell_seed(1, c[0], 1000, 2));
        assert_ne!(s, cell_seed(1, c[1], 1000, 1));
        assert_ne!(s, cell_seed(1, c[0], 5000, 1));
        assert_ne!(s, cell_seed(2, c[0], 1000, 1));
        assert_eq!(s, cell_seed(1, c[0], 1000, 1));
    }
}

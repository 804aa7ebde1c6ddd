//! The benchmarks of `rserpool bench`: the handlespace throughput benchmark
//! of the paper (section 4.1) and the registrar load benchmark across a
//! scope (sections 4.2 and 5.3-5.5), with CSV output, comparison with
//! RSPLIB and figures.
//!
//! The `rserpool` binary parses `rserpool bench ...` into a
//! [`BenchCommand`] and calls [`run`]. The scope benchmark starts
//! registrars and its load generator as `rserpool registrar` and
//! `rserpool bench scope --generator` processes of the running executable,
//! so it runs from the `rserpool` binary only.
//!
//! A new subcommand is a variant of [`BenchCommand`] and a module of its
//! own with an `Args` struct and a `run` function.
#![warn(missing_docs)]

/// The unit tests allocate with jemalloc as the `rserpool` binary does, so
/// that `bench memory`'s count can be checked.
#[cfg(test)]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cells;
mod compare;
mod csv;
mod driver;
pub mod handlespace;
pub mod memory;
mod plot;
pub mod scope;
mod stats;
pub mod units;
mod workload;

/// The subcommands of `rserpool bench`.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Handlespace operations per second (paper section 4.1), as CSV.
    Handlespace(handlespace::HandlespaceArgs),
    /// Registrar CPU load against PEs, registrars and PUs (paper section 4.2), as CSV.
    Scope(scope::ScopeArgs),
    /// Bytes a registrar keeps per PE (allocated, jemalloc's count).
    Memory(memory::MemoryArgs),
}

/// Runs a bench subcommand; the error is the message for the user.
pub fn run(command: BenchCommand) -> Result<(), String> {
    match command {
        BenchCommand::Handlespace(args) => handlespace::run(&args),
        BenchCommand::Scope(args) => scope::run(args),
        BenchCommand::Memory(args) => memory::run(&args),
    }
}

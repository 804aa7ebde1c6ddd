//! `rserpool`: one binary for every RSerPool role and tool.

mod bench;
mod demo;
mod dump;
mod inspect;
mod logging;
mod monitor;
mod pe;
mod pu;
mod registrar;
mod sim;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rserpool",
    version,
    about = "Reliable Server Pooling (RFC 5351-5356)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode ASAP and ENRP messages in a pcap or pcapng capture.
    Inspect(inspect::Args),
    /// Run a pool registrar (ASAP server and ENRP peer).
    Registrar(Box<registrar::Args>),
    /// Print a registrar's handlespace (pools, PEs, peers), as text or JSON.
    Dump(dump::Args),
    /// Live view of registrars, pools and PEs (discovers registrars by announces).
    Monitor(monitor::Args),
    /// Run a pool element offering a built-in service (echo, compute, ...).
    Pe(Box<pe::Args>),
    /// A terminal pool user: stdin lines to the pool, replies to stdout.
    Pu(Box<pu::Args>),
    /// Everything on loopback, with failures injected and narrated (about 35 s).
    Demo(demo::Args),
    /// Deterministic simulation of registrars, PEs and PUs under faults, over many seeds.
    Sim(Box<sim::Args>),
    /// Measure throughput (run a release build).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

/// jemalloc with transparent huge pages (see .cargo/config.toml): the
/// handlespace of a large registrar is random access over megabytes, where
/// 4 KiB pages cost a TLB walk per access.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => std::process::exit(inspect::run(&args)),
        Command::Registrar(args) => std::process::exit(registrar::run(&args)),
        Command::Dump(args) => std::process::exit(dump::run(&args)),
        Command::Monitor(args) => std::process::exit(monitor::run(&args)),
        Command::Pe(args) => std::process::exit(pe::run(&args)),
        Command::Pu(args) => std::process::exit(pu::run(&args)),
        Command::Demo(args) => std::process::exit(demo::run(&args)),
        Command::Sim(args) => std::process::exit(sim::run(&args)),
        Command::Bench { command } => {
            if let Err(e) = bench::run(command) {
                eprintln!("rserpool bench: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// 64 random bits for IDs and seeds.
pub(crate) fn random_u64() -> u64 {
    rserpool::random_seed()
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

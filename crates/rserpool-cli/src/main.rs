//! `rserpool`: one binary for every RSerPool role and tool.

mod addr;
mod demo;
mod dump;
mod inspect;
mod logging;
mod monitor;
mod pe;
mod pu;
mod registrar;
mod resolve;
mod sim;
mod tls;
mod units;

use clap::{Parser, Subcommand};

/// The version with the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RSERPOOL_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "rserpool",
    version = VERSION,
    about = "Reliable Server Pooling (RFC 5351-5356)"
)]
pub(crate) struct Cli {
    /// Log format on stderr: text, or json (one object per event)
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: logging::LogFormat,
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
    /// One handle resolution: the PEs a registrar hands out for a pool.
    Resolve(resolve::Args),
    /// Everything on loopback, with failures injected and narrated (about 35 s).
    Demo(demo::Args),
    /// A scope CA and certificates for TLS (registrars, PEs, pool users).
    Tls {
        #[command(subcommand)]
        command: tls::TlsCommand,
    },
    /// Shell completions (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Man pages, one per command, written into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Deterministic simulation of registrars, PEs and PUs under faults, over many seeds.
    Sim(Box<sim::Args>),
    /// Measure throughput (run a release build).
    Bench {
        #[command(subcommand)]
        command: rserpool_bench::BenchCommand,
    },
}

/// jemalloc with transparent huge pages (see .cargo/config.toml): the
/// handlespace of a large registrar is random access over megabytes, where
/// 4 KiB pages cost a TLB walk per access.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = Cli::parse();
    logging::set_format(cli.log_format);
    match cli.command {
        Command::Inspect(args) => std::process::exit(inspect::run(&args)),
        Command::Registrar(args) => std::process::exit(registrar::run(&args)),
        Command::Dump(args) => std::process::exit(dump::run(&args)),
        Command::Monitor(args) => std::process::exit(monitor::run(&args)),
        Command::Pe(args) => std::process::exit(pe::run(&args)),
        Command::Pu(args) => std::process::exit(pu::run(&args)),
        Command::Resolve(args) => std::process::exit(resolve::run(&args)),
        Command::Demo(args) => std::process::exit(demo::run(&args)),
        Command::Tls { command } => std::process::exit(tls::run(command)),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "rserpool", &mut std::io::stdout());
        }
        Command::Man { out } => std::process::exit(man(&out)),
        Command::Sim(args) => std::process::exit(sim::run(&args)),
        Command::Bench { command } => {
            if let Err(e) = rserpool_bench::run(command) {
                eprintln!("rserpool bench: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// Writes `rserpool.1` and `rserpool-COMMAND.1` for every command.
fn man(dir: &std::path::Path) -> i32 {
    use clap::CommandFactory;
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("rserpool man: cannot create {}: {e}", dir.display());
        return 1;
    }
    let cmd = Cli::command();
    if let Err(e) = clap_mangen::generate_to(cmd, dir) {
        eprintln!("rserpool man: cannot write into {}: {e}", dir.display());
        return 1;
    }
    0
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

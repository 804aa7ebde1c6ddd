//! `rserpool`: one binary for every RSerPool role and tool.

use clap::{Parser, Subcommand};

mod bench;

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
    Inspect {
        /// The capture file.
        file: std::path::PathBuf,
    },
    /// Measure throughput (run a release build).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect { file } => {
            eprintln!("inspect {}: not yet", file.display());
            std::process::exit(2);
        }
        Command::Bench { command } => {
            if let Err(e) = bench::run(command) {
                eprintln!("rserpool bench: {e}");
                std::process::exit(1);
            }
        }
    }
}

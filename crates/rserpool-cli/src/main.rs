//! `rserpool`: one binary for every RSerPool role and tool.

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
    Inspect {
        /// The capture file.
        file: std::path::PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect { file } => {
            eprintln!("inspect {}: not yet", file.display());
            std::process::exit(2);
        }
    }
}

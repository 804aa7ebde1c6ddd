//! `rserpool`: one binary for every RSerPool role and tool.

mod inspect;

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
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => std::process::exit(inspect::run(&args)),
    }
}

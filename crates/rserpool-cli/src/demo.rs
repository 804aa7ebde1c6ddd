//! `rserpool demo`: the whole system on loopback in one command, with
//! failures injected and narrated: three registrars peered by ENRP, a pool
//! of echo PEs and a pool user session; the PE serving the session is
//! killed (the session fails over and replays its cookie), then the PEs'
//! home registrar is killed (a peer takes them over) and restarted (it
//! synchronises again); finally everything stops cleanly.

mod cluster;
mod narrate;
mod pool;
mod scenario;
mod secure;
mod timing;

use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// Shorter timers and acts (about 6 s in all), for tests
    #[arg(long)]
    pub fast: bool,
    /// The scope over TLS: a CA made in a temporary directory, a
    /// certificate for every registrar and PE; the pool user checks the
    /// registrars' certificates, and the PEs' on its sessions
    #[arg(long)]
    pub tls: bool,
}

pub fn run(args: &Args) -> i32 {
    // Component logs stay quiet unless asked for: the narration tells the story.
    if std::env::var_os("RUST_LOG").is_some() {
        crate::logging::init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool demo: cannot start the runtime: {e}");
            return 1;
        }
    };
    let timing = if args.fast {
        timing::Timing::fast()
    } else {
        timing::Timing::normal()
    };
    let passed = rt.block_on(scenario::run(timing, args.tls));
    if passed { 0 } else { 1 }
}

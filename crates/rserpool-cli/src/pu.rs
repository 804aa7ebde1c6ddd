//! `rserpool pu`: a terminal pool user. Every stdin line goes to the pool
//! as one message; replies are printed on stdout, session events (PE
//! reached, failovers) on stderr. End of input closes the session.

use clap::Parser;
use rserpool::announce::{ASAP_ANNOUNCE_GROUP, MulticastConfig};
use rserpool::pool_user::{PoolUserConfig, SessionEvent, start};
use rserpool::transport::TransportMode;
use std::io::BufRead;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

#[derive(Debug, Parser)]
pub struct Args {
    /// Pool handle to use
    #[arg(long, value_name = "NAME")]
    pub pool: String,
    /// A registrar's ASAP address (repeatable); without any, registrars are
    /// found by ASAP Server Announces
    #[arg(long = "registrar", value_name = "ADDR:PORT")]
    pub registrars: Vec<SocketAddr>,
    /// Multicast group of ASAP Server Announces
    #[arg(long, value_name = "GROUP:PORT", default_value_t = ASAP_ANNOUNCE_GROUP)]
    pub announce_group: SocketAddrV4,
    /// Interface address for announces
    #[arg(long, value_name = "ADDR", default_value_t = Ipv4Addr::LOCALHOST)]
    pub announce_interface: Ipv4Addr,
    /// Transport: kernel SCTP where the kernel has it, else TCP
    #[arg(long, value_name = "auto|sctp|tcp", default_value = "auto")]
    pub transport: TransportMode,
    /// After end of input, wait this long for the last replies
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub linger_ms: u64,
    /// TLS to registrars: the scope CA (a certificate is optional)
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

/// Pause before looking for a PE again after none was found.
const RETRY: Duration = Duration::from_millis(500);

pub fn run(args: &Args) -> i32 {
    crate::logging::init();
    let mut cfg = PoolUserConfig::new();
    cfg.registrars = args.registrars.clone();
    cfg.announces = Some(MulticastConfig::new(
        args.announce_group,
        args.announce_interface,
    ));
    cfg.transport = args.transport;
    cfg.seed = crate::random_u64();
    match args.tls.config() {
        Ok(t) => cfg.tls = t,
        Err(e) => {
            eprintln!("rserpool pu: {e}");
            return 2;
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool pu: cannot start the runtime: {e}");
            return 1;
        }
    };
    let pool = args.pool.clone();
    let linger = Duration::from_millis(args.linger_ms);
    rt.block_on(async move {
        let pu = match start(cfg).await {
            Ok(pu) => pu,
            Err(e) => {
                eprintln!("rserpool pu: {e}");
                return 1;
            }
        };
        let mut session = match pu.open_session(pool.as_str()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rserpool pu: {e}");
                return 1;
            }
        };
        let mut lines = stdin_lines();
        let mut input_open = true;
        let stop = crate::wait_for_stop_signal();
        tokio::pin!(stop);
        let far = Duration::from_secs(365 * 86_400);
        let linger_end = tokio::time::sleep(far);
        tokio::pin!(linger_end);
        // After a failed PE search the session waits; look again later.
        let retry = tokio::time::sleep(far);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                line = lines.recv(), if input_open => match line {
                    Some(line) => {
                        if let Err(e) = session.send(line.into_bytes()).await {
                            eprintln!("rserpool pu: {e}");
                        }
                    }
                    None => {
                        input_open = false;
                        linger_end.as_mut().reset(tokio::time::Instant::now() + linger);
                    }
                },
                ev = session.recv() => match ev {
                    Some(ev) => {
                        print_event(&ev);
                        if matches!(ev, SessionEvent::Failed(_)) {
                            retry.as_mut().reset(tokio::time::Instant::now() + RETRY);
                        }
                    }
                    None => return 1,
                },
                () = &mut retry => {
                    retry.as_mut().reset(tokio::time::Instant::now() + far);
                    if let Err(e) = session.failover().await {
                        eprintln!("rserpool pu: {e}");
                    }
                }
                () = &mut linger_end => break,
                () = &mut stop => break,
            }
        }
        session.close().await;
        0
    })
}

/// Stdin lines, read by a thread of their own (stdin reads block).
fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn print_event(ev: &SessionEvent) {
    match ev {
        SessionEvent::Data(frame) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&frame.payload);
            if !frame.payload.ends_with(b"\n") {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
        }
        SessionEvent::Up { pe_id } => eprintln!("session up with PE {pe_id}"),
        SessionEvent::Failover {
            from,
            to,
            cookie_replayed,
        } => eprintln!(
            "failover from PE {from} to PE {to}{}",
            if *cookie_replayed {
                " (cookie replayed)"
            } else {
                ""
            }
        ),
        SessionEvent::Failed(cause) => eprintln!("no pool element: {cause:?}; still trying"),
    }
}

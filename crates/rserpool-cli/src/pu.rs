//! `rserpool pu`: a terminal pool user. Every stdin line goes to the pool
//! as one message; replies are printed on stdout, session events (PE
//! reached, failovers) on stderr. End of input closes the session.

use clap::Parser;
use rserpool::announce::{ASAP_ANNOUNCE_GROUP, MulticastConfig};
use rserpool::pool_user::{PoolUserConfig, SessionEvent, start};
use rserpool::transport::TransportMode;
use rserpool_proto::pool_user::{ResolutionFailure, SessionFailure};
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
    #[arg(long = "registrar", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    pub registrars: Vec<SocketAddr>,
    /// Multicast group of ASAP Server Announces
    #[arg(long, value_name = "GROUP:PORT", default_value_t = ASAP_ANNOUNCE_GROUP)]
    pub asap_announce_group: SocketAddrV4,
    /// Interface address for announces
    #[arg(long, value_name = "ADDR", default_value_t = Ipv4Addr::LOCALHOST)]
    pub announce_interface: Ipv4Addr,
    /// Transport: kernel SCTP where the kernel has it, else TCP
    #[arg(long, value_name = "auto|sctp|tcp", default_value = "auto")]
    pub transport: TransportMode,
    /// After end of input and a reply to every line, wait this long for
    /// more (a service may answer one line with several messages)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = crate::units::duration)]
    pub linger: Duration,
    /// TLS to registrars: the scope CA (a certificate is optional)
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
    /// With --tls-ca: sessions to PEs over TLS too; a PE must show a
    /// certificate of the scope that names the pool
    #[arg(long, requires = "tls_ca")]
    pub tls_data: bool,
    /// After end of input, wait up to this long for a reply to every line;
    /// lines left without one make the exit status 1 (0: expect no reply)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::units::duration)]
    pub reply_timeout: Duration,
}

/// Pause before looking for a PE again after none was found.
const RETRY: Duration = Duration::from_millis(500);

pub fn run(args: &Args) -> i32 {
    crate::logging::init();
    let announces = MulticastConfig::new(args.asap_announce_group, args.announce_interface);
    let mut cfg = match config(&args.registrars, announces, args.transport, &args.tls) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rserpool pu: {e}");
            return 2;
        }
    };
    cfg.data_tls = args.tls_data;
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
    let linger = args.linger;
    let reply_timeout = args.reply_timeout;
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
        // After end of input: the last replies may take a while (a compute
        // job answers when done), so wait for a reply to every line, up to
        // the reply timeout, then for `linger` of quiet.
        let done = tokio::time::sleep(far);
        tokio::pin!(done);
        // After a failed PE search the session waits; look again later.
        let retry = tokio::time::sleep(far);
        tokio::pin!(retry);
        let mut sent = 0u64;
        let mut replies = 0u64;
        let mut reached = false;
        let mut last_failure: Option<String> = None;
        let stopped = loop {
            tokio::select! {
                line = lines.recv(), if input_open => match line {
                    Some(line) => {
                        sent += 1;
                        if let Err(e) = session.send(line.into_bytes()).await {
                            eprintln!("rserpool pu: {e}");
                        }
                    }
                    None => {
                        input_open = false;
                        let wait = if replies >= sent || reply_timeout.is_zero() {
                            linger
                        } else {
                            reply_timeout
                        };
                        done.as_mut().reset(tokio::time::Instant::now() + wait);
                    }
                },
                ev = session.recv() => match ev {
                    Some(ev) => {
                        match &ev {
                            SessionEvent::Data(_) => {
                                replies += 1;
                                if !input_open && replies >= sent {
                                    // Every line answered: quiet for
                                    // `linger` ends the session.
                                    done.as_mut().reset(tokio::time::Instant::now() + linger);
                                }
                            }
                            SessionEvent::Up { .. } | SessionEvent::Failover { .. } => {
                                reached = true;
                                last_failure = None;
                            }
                            SessionEvent::Failed(_) => {
                                retry.as_mut().reset(tokio::time::Instant::now() + RETRY);
                            }
                        }
                        // Each distinct failure once, not at every retry.
                        if let SessionEvent::Failed(cause) = &ev {
                            let text = failure_text(&pool, cause);
                            if last_failure.as_ref() != Some(&text) {
                                eprintln!("rserpool pu: {text}; still trying");
                                last_failure = Some(text);
                            }
                        } else {
                            print_event(&ev);
                        }
                    }
                    None => break false,
                },
                () = &mut retry => {
                    retry.as_mut().reset(tokio::time::Instant::now() + far);
                    if let Err(e) = session.failover().await {
                        eprintln!("rserpool pu: {e}");
                    }
                }
                () = &mut done => break false,
                () = &mut stop => break true,
            }
        };
        session.close().await;
        if stopped {
            return 0;
        }
        if sent > 0 && !reached {
            let why = last_failure.unwrap_or_else(|| {
                "no registrar answered: is one running at the --registrar address?".into()
            });
            eprintln!(
                "rserpool pu: {sent} line(s) not delivered: no pool element of pool {pool:?} was reached ({why})"
            );
            return 1;
        }
        if replies < sent && reply_timeout > Duration::ZERO {
            eprintln!(
                "rserpool pu: {} of {sent} line(s) got no reply within {} ms \
                 (a service that answers nothing, as discard: --reply-timeout 0s)",
                sent - replies,
                reply_timeout.as_millis()
            );
            return 1;
        }
        0
    })
}

/// A pool user's configuration from the command line (also `rserpool
/// resolve`'s): registrars given means those only, else the ones found by
/// their announces on `announces`.
pub fn config(
    registrars: &[SocketAddr],
    announces: MulticastConfig,
    transport: TransportMode,
    tls: &crate::tls::TlsArgs,
) -> Result<PoolUserConfig, String> {
    let mut cfg = PoolUserConfig::new();
    cfg.registrars = registrars.to_vec();
    cfg.announces = registrars.is_empty().then_some(announces);
    cfg.transport = transport;
    cfg.seed = crate::random_u64();
    cfg.tls = tls.config()?;
    Ok(cfg)
}

/// One human sentence for a session that found no PE.
fn failure_text(pool: &str, cause: &SessionFailure) -> String {
    match cause {
        SessionFailure::NoPoolElement => {
            format!("no pool element of pool {pool:?} answers")
        }
        SessionFailure::Resolution(ResolutionFailure::Error(e)) => {
            let causes: Vec<&str> = e.causes.iter().map(|c| c.code.name()).collect();
            format!(
                "the registrar cannot resolve pool {pool:?}: {}",
                causes.join(", ")
            )
        }
        SessionFailure::Resolution(ResolutionFailure::NoRegistrar) => {
            "no registrar could be reached (check --registrar and --transport)".into()
        }
        SessionFailure::Resolution(ResolutionFailure::NoAnswer) => {
            "the registrars reached did not answer".into()
        }
    }
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
        SessionEvent::Failed(_) => {}
    }
}

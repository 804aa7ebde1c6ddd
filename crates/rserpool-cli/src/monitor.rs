//! `rserpool monitor`: a live view of registrars, pools, PEs, loads and
//! policies, from periodic dumps over ENRP (see [`rserpool::probe`]).
//!
//! Registrars come from `--registrar`, or, without it, from ENRP Presence
//! announces; the peers each registrar lists are followed, so one known
//! registrar is enough to see the whole operation scope.

pub mod discover;
pub mod view;

use clap::Parser;
use rserpool::announce::{ENRP_ANNOUNCE_GROUP, MulticastConfig};
use rserpool::probe::{DumpError, Probe};
use rserpool::transport::TransportMode;
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use view::{Status, Target};

#[derive(Debug, Parser)]
pub struct Args {
    /// ENRP address of a registrar to watch (its --enrp address, as
    /// `registrar --peer` names it; repeatable) [default: discover by announces]
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    pub registrars: Vec<SocketAddr>,
    /// Refresh interval
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = crate::units::duration)]
    pub interval: Duration,
    /// Print one frame without terminal codes and exit (for scripts)
    #[arg(long)]
    pub once: bool,
    /// Transport: auto tries kernel SCTP (where the kernel has it), then TCP
    #[arg(long, value_name = "auto|sctp|tcp", default_value = "auto")]
    pub transport: TransportMode,
    /// Multicast group of ENRP Presence announces
    #[arg(long, value_name = "GROUP:PORT", default_value_t = ENRP_ANNOUNCE_GROUP)]
    pub enrp_announce_group: SocketAddrV4,
    /// Interface address to listen for announces on
    #[arg(long, value_name = "ADDR", default_value_t = Ipv4Addr::LOCALHOST)]
    pub announce_interface: Ipv4Addr,
    /// Most PE rows per pool [default: 20 live, all with --once]
    #[arg(long, value_name = "N")]
    pub pes_per_pool: Option<usize>,
    /// With --once and no --peer: how long to wait for an announce
    #[arg(long, value_name = "DURATION", default_value = "31s", value_parser = crate::units::duration)]
    pub discovery: Duration,
    /// Print one JSON snapshot of every registrar found and exit (as --once)
    #[arg(long)]
    pub json: bool,
}

/// The registrars being watched and the open probes to them.
#[derive(Debug)]
struct Monitor {
    targets: Vec<Target>,
    probes: HashMap<SocketAddr, Probe>,
    /// Registrars learnt from peer lists (not named on the command line).
    followed: HashSet<SocketAddr>,
    /// Listed endpoints that refused an association: not registrars (an
    /// RSPLIB registrar lists the dump tools that talked to it as peers,
    /// at the ephemeral port they came from), or gone; not shown.
    ignored: HashSet<SocketAddr>,
    mode: TransportMode,
    limit: Duration,
}

/// How long a new probe may take to be accepted as a peer.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

impl Monitor {
    fn new(mode: TransportMode, limit: Duration) -> Monitor {
        Monitor {
            targets: Vec::new(),
            probes: HashMap::new(),
            followed: HashSet::new(),
            ignored: HashSet::new(),
            mode,
            limit,
        }
    }

    /// Adds a registrar unless it is watched already; true if added.
    fn add(&mut self, address: SocketAddr) -> bool {
        if self.targets.iter().any(|t| t.address == address) {
            return false;
        }
        self.targets.push(Target {
            address,
            status: Status::Waiting,
        });
        self.targets.sort_by_key(|t| t.address);
        true
    }

    /// Dumps every registrar at once, then adds the peers they name.
    /// True if new registrars were found.
    async fn refresh(&mut self) -> bool {
        let mut tasks = JoinSet::new();
        for t in &self.targets {
            let address = t.address;
            let probe = self.probes.remove(&address);
            let (mode, limit) = (self.mode, self.limit);
            tasks.spawn(async move {
                let mut start = Instant::now();
                let mut probe = match probe {
                    Some(p) => p,
                    // Introducing itself can take a second more than a
                    // refresh (see `rserpool::probe::PLAIN_PRESENCE_WAIT`).
                    None => {
                        let options = crate::dump::options(mode, None, limit.max(CONNECT_LIMIT));
                        match Probe::connect(address, &options).await {
                            Ok(p) => {
                                start = Instant::now();
                                p
                            }
                            Err(e) => {
                                let refused = matches!(&e, DumpError::Connect(..));
                                return (address, None, Err((e.to_string(), refused)));
                            }
                        }
                    }
                };
                let left = limit.saturating_sub(start.elapsed());
                match probe.snapshot(left).await {
                    Ok(s) => (address, Some(probe), Ok((s, start.elapsed()))),
                    Err(e) => (address, None, Err((e.to_string(), false))),
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((address, probe, result)) = done else {
                continue;
            };
            if let Some(p) = probe {
                self.probes.insert(address, p);
            }
            if matches!(result, Err((_, true))) && self.followed.contains(&address) {
                self.targets.retain(|t| t.address != address);
                self.ignored.insert(address);
                continue;
            }
            if let Some(t) = self.targets.iter_mut().find(|t| t.address == address) {
                t.status = match result {
                    Ok((snapshot, took)) => Status::Up { snapshot, took },
                    Err((e, _)) => Status::Down(e),
                };
            }
        }
        // Follow peers, except those already watched under another address.
        let known: Vec<_> = self
            .targets
            .iter()
            .filter_map(Target::snapshot)
            .map(|s| s.registrar.server_id)
            .collect();
        let peers: Vec<SocketAddr> = self
            .targets
            .iter()
            .filter_map(Target::snapshot)
            .flat_map(view::peer_addresses)
            .filter(|(id, _)| !known.contains(id))
            .map(|(_, a)| a)
            .collect();
        let mut added = false;
        for a in peers {
            if !self.ignored.contains(&a) && self.add(a) {
                self.followed.insert(a);
                added = true;
            }
        }
        added
    }

    fn frame(&self, interval: Duration, pes_per_pool: Option<usize>) -> String {
        view::render(&self.targets, &view::clock(), interval, pes_per_pool)
    }

    /// `{"registrars": [...]}`: each answering registrar as `rserpool dump
    /// --json` prints it, and `{"address", "error"}` for the others.
    fn json(&self) -> String {
        let items: Vec<serde_json::Value> = self
            .targets
            .iter()
            .map(|t| match &t.status {
                Status::Up { snapshot, .. } => crate::dump::json::render(snapshot)
                    .ok()
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or(serde_json::Value::Null),
                Status::Down(e) => {
                    serde_json::json!({ "address": t.address.to_string(), "error": e })
                }
                Status::Waiting => {
                    serde_json::json!({ "address": t.address.to_string(), "error": "not asked" })
                }
            })
            .collect();
        serde_json::json!({ "registrars": items }).to_string()
    }

    fn answering(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.snapshot().is_some())
            .count()
    }
}

pub fn run(args: &Args) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool monitor: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async {
        match if args.once || args.json {
            once(args).await
        } else {
            live(args).await
        } {
            Ok(code) => code,
            Err(e) => {
                eprintln!("rserpool monitor: {e}");
                1
            }
        }
    })
}

fn interval(args: &Args) -> Duration {
    args.interval.max(Duration::from_millis(50))
}

/// Per-refresh time limit: a slow registrar must not stall the view long.
fn limit(args: &Args) -> Duration {
    interval(args).max(Duration::from_secs(1))
}

fn listen(args: &Args) -> Result<mpsc::Receiver<discover::Heard>, String> {
    let (tx, rx) = mpsc::channel(64);
    let cfg = MulticastConfig::new(args.enrp_announce_group, args.announce_interface);
    discover::spawn(&cfg, tx).map_err(|e| {
        format!(
            "cannot listen for announces on {} via {}: {e}",
            args.enrp_announce_group, args.announce_interface
        )
    })?;
    Ok(rx)
}

async fn once(args: &Args) -> Result<i32, String> {
    let mut m = Monitor::new(args.transport, limit(args));
    for a in &args.registrars {
        m.add(*a);
    }
    if args.registrars.is_empty() {
        let mut rx = listen(args)?;
        let wait = args.discovery;
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(h)) => {
                m.add(h.enrp);
            }
            _ => {
                return Err(format!(
                    "no registrar announced itself on {} within {} (try --peer ENRP_ADDR:PORT)",
                    args.enrp_announce_group,
                    crate::units::format(args.discovery)
                ));
            }
        }
    }
    // Follow peer lists until no new registrar turns up (bounded).
    for _ in 0..8 {
        if !m.refresh().await {
            break;
        }
    }
    if args.json {
        println!("{}", m.json());
    } else {
        print!("{}", m.frame(interval(args), args.pes_per_pool));
    }
    Ok(if m.answering() > 0 { 0 } else { 1 })
}

async fn live(args: &Args) -> Result<i32, String> {
    let mut m = Monitor::new(args.transport, limit(args));
    for a in &args.registrars {
        m.add(*a);
    }
    let mut heard = if args.registrars.is_empty() {
        Some(listen(args)?)
    } else {
        None
    };
    let every = interval(args);
    let stop = crate::wait_for_stop_signal();
    tokio::pin!(stop);
    let mut next = Instant::now();
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let mut screen = Screen::new(terminal);
    // On a terminal: raw mode for single keys (q quits), restored on exit.
    let _raw = terminal.then(RawMode::enter).flatten();
    let mut keys = if _raw.is_some() {
        Some(spawn_key_reader())
    } else {
        None
    };
    loop {
        if let Some(rx) = &mut heard {
            while let Ok(h) = rx.try_recv() {
                m.add(h.enrp);
            }
        }
        m.refresh().await;
        let mut text = m.frame(every, args.pes_per_pool.or(Some(20)));
        if m.targets.is_empty() {
            text.push_str(&format!(
                "waiting for ENRP announces on {} via {}\n",
                args.enrp_announce_group, args.announce_interface
            ));
        }
        let size = crossterm::terminal::size().ok();
        let frame = screen.frame_sized(&text, size.filter(|_| terminal));
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(frame.as_bytes());
        let _ = out.flush();
        drop(out);
        next += every;
        let now = Instant::now();
        if next < now {
            next = now;
        }
        let key = async {
            match &mut keys {
                Some(k) => k.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = &mut stop => return Ok(0),
            k = key => match k {
                Some(Key::Quit) | None => return Ok(0),
                // Another key, or the window changed: draw again now.
                Some(Key::Redraw) => next = Instant::now(),
            },
        }
    }
}

/// What a key press asks of the live view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// q, Esc, Ctrl-C.
    Quit,
    /// Anything else, or a resize.
    Redraw,
}

/// Reads terminal events on a thread of its own (they block).
fn spawn_key_reader() -> mpsc::Receiver<Key> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let (tx, rx) = mpsc::channel(8);
    std::thread::spawn(move || {
        while let Ok(ev) = event::read() {
            let key = match ev {
                Event::Key(k) if k.kind != KeyEventKind::Release => match k.code {
                    KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => Key::Quit,
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
                    _ => Key::Redraw,
                },
                Event::Resize(..) => Key::Redraw,
                _ => continue,
            };
            if tx.blocking_send(key).is_err() || key == Key::Quit {
                return;
            }
        }
    });
    rx
}

/// The terminal in raw mode while this lives.
#[derive(Debug)]
struct RawMode;

impl RawMode {
    fn enter() -> Option<RawMode> {
        crossterm::terminal::enable_raw_mode()
            .ok()
            .map(|()| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
        // Leave the cursor below the last frame.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\r\n");
        let _ = out.flush();
    }
}

/// Frames for a terminal overwrite the last one in place (cursor home,
/// each line cleared to its end, the rest of the screen cleared); the
/// first clears the screen. Anything else gets plain frames, one after
/// another, separated by a blank line.
#[derive(Debug)]
struct Screen {
    terminal: bool,
    first: bool,
}

impl Screen {
    fn new(terminal: bool) -> Screen {
        Screen {
            terminal,
            first: true,
        }
    }

    /// A frame fitted to a terminal of `size` (columns, rows): lines cut at
    /// the right edge, and no more lines than fit (the last says how many
    /// were left out), so that nothing wraps or scrolls.
    fn frame_sized(&mut self, text: &str, size: Option<(u16, u16)>) -> String {
        let first = std::mem::replace(&mut self.first, false);
        if !self.terminal {
            return if first {
                text.to_string()
            } else {
                format!("\n{text}")
            };
        }
        let mut out = String::from(if first { "\x1b[2J\x1b[H" } else { "\x1b[H" });
        let lines: Vec<&str> = text.lines().collect();
        let (cols, rows) = match size {
            Some((c, r)) => (usize::from(c.max(1)), usize::from(r.max(2))),
            None => (usize::MAX, usize::MAX),
        };
        let shown = if lines.len() > rows - 1 {
            rows - 2
        } else {
            lines.len()
        };
        for line in &lines[..shown] {
            out.extend(line.chars().take(cols));
            // Raw mode: a line feed alone does not return the carriage.
            out.push_str("\x1b[K\r\n");
        }
        if shown < lines.len() {
            let more = format!(
                "... {} more lines (a taller window shows them; q quits)",
                lines.len() - shown
            );
            out.extend(more.chars().take(cols));
            out.push_str("\x1b[K\r\n");
        }
        out.push_str("\x1b[J");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Screen;

    #[test]
    fn terminal_frames_overwrite_in_place() {
        let mut s = Screen::new(true);
        assert_eq!(
            s.frame_sized("a\nb\n", None),
            "\x1b[2J\x1b[Ha\x1b[K\r\nb\x1b[K\r\n\x1b[J"
        );
        assert_eq!(s.frame_sized("c\n", None), "\x1b[Hc\x1b[K\r\n\x1b[J");
    }

    #[test]
    fn frames_fit_the_terminal() {
        let mut s = Screen::new(true);
        let text: String = (0..30)
            .map(|i| format!("line {i:02} {}\n", "x".repeat(100)))
            .collect();
        let f = s.frame_sized(&text, Some((80, 24)));
        let lines: Vec<&str> = f
            .split("\r\n")
            .filter(|l| !l.starts_with("\x1b[J"))
            .collect();
        assert_eq!(lines.len(), 23, "one row left for the cursor");
        for l in &lines {
            let visible = l
                .replace("\x1b[2J", "")
                .replace("\x1b[H", "")
                .replace("\x1b[K", "");
            assert!(visible.chars().count() <= 80, "{visible:?}");
        }
        assert!(lines[22].contains("... 8 more lines"), "{}", lines[22]);
    }

    #[test]
    fn other_outputs_get_plain_frames() {
        let mut s = Screen::new(false);
        assert_eq!(s.frame_sized("a\n", None), "a\n");
        assert_eq!(s.frame_sized("b\n", None), "\nb\n");
    }
}

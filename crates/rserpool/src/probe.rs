//! Reading a registrar's handlespace over ENRP: the I/O-free
//! [`rserpool_proto::probe::Probe`] driven over an association (TCP, kernel
//! SCTP, or TLS over TCP) with a real clock.
//!
//! The probe is a pseudo-peer of the registrar (see
//! [`rserpool_proto::probe`]): [`dump`] introduces it, reads one
//! [`Snapshot`] and closes; a [`Probe`] stays connected for repeated
//! snapshots (as `rserpool monitor` does) and answers the registrar as a
//! peer in between, in a task of its own.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rserpool::probe::DumpError> {
//! use rserpool::probe::{DumpOptions, dump};
//!
//! let snapshot = dump("127.0.0.1:9901".parse().unwrap(), &DumpOptions::default()).await?;
//! for pool in &snapshot.pools {
//!     println!("{}: {} PE(s)", pool.handle, pool.elements.len());
//! }
//! # Ok(())
//! # }
//! ```

use crate::transport::tls::{Expect, TlsClient};
use crate::transport::{self, AssocWriter, Association, Carrier, Ppid, TransportMode};
use rserpool_proto::Time;
use rserpool_proto::probe::{Probe as Machine, ProbeConfig, ProbeError, ProbeEvent};
use rserpool_proto::wire::{DecodeError, ServerId, ServerInformation, TransportKind};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::debug;

pub use rserpool_proto::probe::{Awaited, PLAIN_PRESENCE_WAIT, Pool, Refusal, Snapshot};

/// Messages queued for the writer: the probe sends a few at a time, so a
/// full queue means the registrar stopped reading.
const SEND_QUEUE: usize = 64;

/// How long [`Probe::close`] waits for queued messages to go out.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How to reach the registrar.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DumpOptions {
    /// [`TransportMode::Auto`] tries kernel SCTP (where the kernel has
    /// it), then TCP if the SCTP association is refused. Ignored with
    /// `tls` (TLS runs over TCP).
    pub transport: TransportMode,
    /// The whole of [`dump`]; for [`Probe::connect`], the time to come up
    /// and be answered (leave at least two [`PLAIN_PRESENCE_WAIT`]s for
    /// RSPLIB's registrar).
    pub timeout: Duration,
    /// ENRP over TLS: the registrar must present a registrar certificate
    /// of the scope, and accept this endpoint's as a registrar's.
    pub tls: Option<TlsClient>,
    /// The probe's server ID; random when `None`.
    pub server_id: Option<ServerId>,
}

impl Default for DumpOptions {
    /// Auto transport, 5 s, no TLS, a random server ID.
    fn default() -> Self {
        DumpOptions {
            transport: TransportMode::Auto,
            timeout: Duration::from_secs(5),
            tls: None,
            server_id: None,
        }
    }
}

/// Why a registrar could not be dumped.
#[derive(Debug)]
pub enum DumpError {
    /// No association to the registrar's ENRP port (or no TLS session).
    Connect(SocketAddr, io::Error),
    /// The association failed while reading.
    Io(io::Error),
    /// The registrar closed the association.
    Closed,
    /// No answer within the time limit; says what was awaited.
    Timeout(Awaited),
    /// The registrar sent bytes that are not an ENRP message.
    Decode(DecodeError),
    /// The registrar refused a request.
    Refused(Refusal),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Connect(a, e) => write!(f, "cannot connect to {a}: {e}"),
            DumpError::Io(e) => write!(f, "association failed: {e}"),
            DumpError::Closed => ProbeError::Closed.fmt(f),
            DumpError::Timeout(what) => ProbeError::Timeout(*what).fmt(f),
            DumpError::Decode(e) => write!(f, "undecodable message from the registrar: {e}"),
            DumpError::Refused(why) => write!(f, "the registrar refused: {why}"),
        }
    }
}

impl std::error::Error for DumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DumpError::Connect(_, e) | DumpError::Io(e) => Some(e),
            DumpError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProbeError> for DumpError {
    fn from(e: ProbeError) -> Self {
        match e {
            ProbeError::Closed => DumpError::Closed,
            ProbeError::Timeout(what) => DumpError::Timeout(what),
            ProbeError::Decode(e) => DumpError::Decode(e),
            ProbeError::Refused(why) => DumpError::Refused(why),
        }
    }
}

/// One complete dump within `options.timeout`: connect, introduce, read
/// the handlespace and the peer list, close.
pub async fn dump(registrar: SocketAddr, options: &DumpOptions) -> Result<Snapshot, DumpError> {
    let start = Instant::now();
    let mut probe = Probe::connect(registrar, options).await?;
    let left = options.timeout.saturating_sub(start.elapsed());
    let snapshot = probe.snapshot(left).await;
    probe.close().await;
    snapshot
}

/// An open ENRP association to one registrar that knows the probe as a
/// peer. Dropping it closes the association.
#[derive(Debug)]
pub struct Probe {
    /// To the driver task; `None` once closed.
    commands: Option<mpsc::Sender<Command>>,
    task: Option<JoinHandle<()>>,
    registrar: ServerInformation,
    carrier: Carrier,
}

/// A snapshot request for the driver.
#[derive(Debug)]
struct Command {
    limit: Duration,
    reply: oneshot::Sender<Result<Snapshot, DumpError>>,
}

impl Probe {
    /// Connects under a fresh random server ID (unless `options` names
    /// one) and waits for the registrar's PRESENCE, all within
    /// `options.timeout`. With [`TransportMode::Auto`], a refused SCTP
    /// association is retried over TCP, since the registrar may run either.
    pub async fn connect(registrar: SocketAddr, options: &DumpOptions) -> Result<Probe, DumpError> {
        let me = options
            .server_id
            .unwrap_or_else(|| ServerId(crate::random_seed() as u32 | 1));
        let limit = options.timeout;
        if let Some(tls) = &options.tls {
            return Probe::open(registrar, Carrier::Tcp, Some(tls), me, limit).await;
        }
        let first = options
            .transport
            .resolve()
            .map_err(|e| DumpError::Connect(registrar, e))?;
        match Probe::open(registrar, first, None, me, limit).await {
            Err(DumpError::Connect(..))
                if options.transport == TransportMode::Auto && first == Carrier::Sctp =>
            {
                Probe::open(registrar, Carrier::Tcp, None, me, limit).await
            }
            r => r,
        }
    }

    async fn open(
        address: SocketAddr,
        carrier: Carrier,
        tls: Option<&TlsClient>,
        me: ServerId,
        limit: Duration,
    ) -> Result<Probe, DumpError> {
        let clock = Clock::new();
        let kind = match carrier {
            Carrier::Sctp => TransportKind::Sctp,
            Carrier::Tcp => TransportKind::Tcp,
        };
        let mut machine = Machine::new(ProbeConfig::new(me, address, kind), clock.now(), limit);
        let up = async {
            let a = transport::connect(address, carrier, Ppid::Enrp).await?;
            match tls {
                Some(tls) => tls.connect(a, Expect::Registrar).await,
                None => Ok(a),
            }
        };
        let due = machine.poll_timeout().unwrap_or_else(|| clock.now());
        let assoc = match tokio::time::timeout_at(clock.instant(due), up).await {
            Ok(up) => up.map_err(|e| DumpError::Connect(address, e))?,
            Err(_) => {
                machine.handle_timeout(clock.now().max(due));
                return Err(first_failure(&mut machine));
            }
        };
        machine.connected(clock.now(), assoc.local_addr().ok());
        let (commands, commands_rx) = mpsc::channel(1);
        let (introduced, introduced_rx) = oneshot::channel();
        let driver = Driver {
            machine,
            clock,
            address,
            waiting: Some(Waiter::Introduction(introduced)),
            failure: None,
            io_error: None,
        };
        let task = tokio::spawn(driver.run(assoc, commands_rx));
        let mut probe = Probe {
            commands: Some(commands),
            task: Some(task),
            registrar: ServerInformation {
                server_id: ServerId(0),
                transport: rserpool_proto::probe::peer::no_endpoint(kind),
            },
            carrier,
        };
        probe.registrar = introduced_rx.await.unwrap_or(Err(DumpError::Closed))?;
        Ok(probe)
    }

    /// The registrar's ID and ENRP endpoint, from its PRESENCE.
    pub fn registrar(&self) -> &ServerInformation {
        &self.registrar
    }

    /// The transport the association runs over.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// Fetches the whole handlespace and the peer list within `limit`. A
    /// failed probe reports its failure once, then [`DumpError::Closed`].
    pub async fn snapshot(&mut self, limit: Duration) -> Result<Snapshot, DumpError> {
        let commands = self.commands.as_ref().ok_or(DumpError::Closed)?;
        let (reply, answer) = oneshot::channel();
        commands
            .send(Command { limit, reply })
            .await
            .map_err(|_| DumpError::Closed)?;
        answer.await.unwrap_or(Err(DumpError::Closed))
    }

    /// Closes the association cleanly (the registrar reads end of stream
    /// after what was queued).
    pub async fn close(mut self) {
        self.commands = None;
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(CLOSE_WAIT, task).await;
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Who waits for the machine's next result.
#[derive(Debug)]
enum Waiter {
    Introduction(oneshot::Sender<Result<ServerInformation, DumpError>>),
    Snapshot(oneshot::Sender<Result<Snapshot, DumpError>>),
}

impl Waiter {
    fn fail(self, e: DumpError) {
        let _ = match self {
            Waiter::Introduction(tx) => tx.send(Err(e)).map_err(drop),
            Waiter::Snapshot(tx) => tx.send(Err(e)).map_err(drop),
        };
    }
}

/// Runs the machine: the association, its timers and the requests of the
/// [`Probe`] handle.
#[derive(Debug)]
struct Driver {
    machine: Machine,
    clock: Clock,
    address: SocketAddr,
    waiting: Option<Waiter>,
    /// A failure nobody was waiting for: the next request gets it.
    failure: Option<DumpError>,
    /// Why the association was lost, if reading failed.
    io_error: Option<io::Error>,
}

impl Driver {
    async fn run(mut self, assoc: Association, mut commands: mpsc::Receiver<Command>) {
        let Association {
            mut reader, writer, ..
        } = assoc;
        let (out, out_rx) = mpsc::channel(SEND_QUEUE);
        let writer = tokio::spawn(write_loop(writer, out_rx));
        loop {
            while let Some(bytes) = self.machine.poll_transmit() {
                if out.try_send(bytes).is_err() {
                    debug!("probe of {}: the registrar stopped reading", self.address);
                    self.machine.closed(self.clock.now());
                    break;
                }
            }
            while let Some(event) = self.machine.poll_event() {
                self.on_event(event);
            }
            if self.machine.failure().is_some() {
                break;
            }
            let due = self.machine.poll_timeout().map(|t| self.clock.instant(t));
            let timer = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = reader.recv() => {
                    let now = self.clock.now();
                    match read {
                        Ok(Some(bytes)) => self.machine.received(now, bytes),
                        Ok(None) => self.machine.closed(now),
                        Err(e) => {
                            self.io_error = Some(e);
                            self.machine.closed(now);
                        }
                    }
                }
                command = commands.recv() => match command {
                    Some(c) => self.request(c),
                    None => {
                        // Closed by the handle: the writer drains its
                        // queue, then shuts the stream down.
                        drop(out);
                        let _ = tokio::time::timeout(CLOSE_WAIT, writer).await;
                        return;
                    }
                },
                () = timer => self.machine.handle_timeout(self.clock.now()),
            }
        }
        // Failed: the association goes; the next request learns why.
        drop(reader);
        drop(out);
        if let Some(c) = commands.recv().await {
            let e = self.failure.take().unwrap_or(DumpError::Closed);
            let _ = c.reply.send(Err(e));
        }
    }

    fn request(&mut self, c: Command) {
        match self.machine.snapshot(self.clock.now(), c.limit) {
            Ok(()) => self.waiting = Some(Waiter::Snapshot(c.reply)),
            Err(e) => {
                let _ = c.reply.send(Err(e.into()));
            }
        }
    }

    fn on_event(&mut self, event: ProbeEvent) {
        match (event, self.waiting.take()) {
            (ProbeEvent::Introduced(info), Some(Waiter::Introduction(tx))) => {
                let _ = tx.send(Ok(info));
            }
            (ProbeEvent::Snapshot(s), Some(Waiter::Snapshot(tx))) => {
                let _ = tx.send(Ok(s));
            }
            (ProbeEvent::Failed(e), waiting) => {
                debug!("probe of {}: {e}", self.address);
                let e = match (e, self.io_error.take()) {
                    (ProbeError::Closed, Some(io)) => DumpError::Io(io),
                    (e, _) => e.into(),
                };
                match waiting {
                    Some(w) => w.fail(e),
                    None => self.failure = Some(e),
                }
            }
            // A result nobody waits for (the waiter gave up): dropped.
            (_, waiting) => self.waiting = waiting,
        }
    }
}

/// The failure a machine just reported, as the caller sees it.
fn first_failure(machine: &mut Machine) -> DumpError {
    while let Some(event) = machine.poll_event() {
        if let ProbeEvent::Failed(e) = event {
            return e.into();
        }
    }
    DumpError::Timeout(Awaited::Association)
}

async fn write_loop(mut writer: AssocWriter, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if writer.send(&bytes).await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// The machine's [`Time`]: microseconds since the probe started.
#[derive(Clone, Copy, Debug)]
struct Clock {
    origin: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    fn now(&self) -> Time {
        Time::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn instant(&self, t: Time) -> Instant {
        self.origin + Duration::from_micros(t.as_micros())
    }
}

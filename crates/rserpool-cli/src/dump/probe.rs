//! A pseudo-peer on a registrar's ENRP port: it introduces itself with a
//! PRESENCE under a random server ID, then asks for the handlespace
//! (HANDLE_TABLE_REQUEST, block by block while the M flag is set) and for
//! the registrar's peers (LIST_REQUEST).
//!
//! The registrar treats the probe as a peer, so the probe behaves as one,
//! at once and also while idle between dumps (see [`answer`]): it answers
//! PRESENCE probes, refuses the registrar's own HANDLE_TABLE_REQUEST (it
//! has no handlespace to offer, and an empty answer would wrongly count as
//! a completed synchronisation), answers LIST_REQUEST with no servers and
//! acknowledges every INIT_TAKEOVER so a real takeover never waits for it.
//! Its Server Information names an unspecified address, so no registrar
//! ever tries to connect back to it, and it owns no PEs, so losing it
//! triggers no takeover. RSPLIB's registrar drops a PRESENCE whose
//! addresses are not those of the association (as its own hsdump sends):
//! when the first PRESENCE goes unanswered for [`PLAIN_PRESENCE_WAIT`],
//! the probe names the address and port it connected from from then on.

use super::snapshot::{Snapshot, SnapshotBuilder};
use rserpool::transport::tls::{Expect, TlsClient};
use rserpool::transport::{self, AssocReader, AssocWriter, Association, Carrier, Ppid};
use rserpool_proto::handlespace::checksum::ChecksumSum;
use rserpool_proto::wire::enrp::{
    HandleTableRequest, HandleTableResponse, InitTakeoverAck, ListRequest, ListResponse, Presence,
};
use rserpool_proto::wire::{
    DecodeError, DecodeOptions, EnrpMessage, ServerId, ServerInformation, TransportParam,
    TransportUse,
};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Messages for the probe read ahead of it: responses come only when
/// asked for, so this bounds nothing that matters.
const READ_AHEAD: usize = 256;
/// Messages queued for sending.
const SEND_QUEUE: usize = 64;

/// Why a registrar could not be dumped.
#[derive(Debug)]
pub enum ProbeError {
    /// No association to the registrar's ENRP port.
    Connect(SocketAddr, io::Error),
    /// The association failed while reading or writing.
    Io(io::Error),
    /// The registrar closed the association.
    Closed,
    /// No answer within the time limit; says what was awaited.
    Timeout(&'static str),
    /// The registrar sent bytes that are not an ENRP message.
    Decode(DecodeError),
    /// The registrar refused the request (R flag) or sent an ENRP ERROR.
    Refused(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Connect(a, e) => write!(f, "cannot connect to {a}: {e}"),
            ProbeError::Io(e) => write!(f, "association failed: {e}"),
            ProbeError::Closed => f.write_str("the registrar closed the association"),
            ProbeError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            ProbeError::Decode(e) => write!(f, "undecodable message from the registrar: {e}"),
            ProbeError::Refused(why) => write!(f, "the registrar refused: {why}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// An open ENRP association to one registrar, identified by its PRESENCE.
#[derive(Debug)]
pub struct Probe {
    /// Responses and PRESENCEs from the reader task, which answers
    /// everything else itself. (Association reads are not cancel-safe;
    /// channel receives are, so timeouts wrap only the latter.)
    rx: mpsc::Receiver<Result<EnrpMessage, ProbeError>>,
    /// To the writer task; `None` once closed.
    out: Option<mpsc::Sender<Vec<u8>>>,
    reader: JoinHandle<()>,
    writer: Option<JoinHandle<()>>,
    address: SocketAddr,
    carrier: Carrier,
    me: ServerId,
    registrar: ServerInformation,
    /// What the registrar announced about its own PEs in its last PRESENCE.
    announced_checksum: Option<u16>,
}

impl Probe {
    /// Connects, introduces itself as `me` and waits for the registrar's
    /// PRESENCE, all within `limit`.
    pub async fn connect(
        address: SocketAddr,
        carrier: Carrier,
        me: ServerId,
        limit: Duration,
    ) -> Result<Probe, ProbeError> {
        let deadline = Instant::now() + limit;
        let assoc =
            tokio::time::timeout_at(deadline, transport::connect(address, carrier, Ppid::Enrp))
                .await
                .map_err(|_| ProbeError::Timeout("the association to come up"))?
                .map_err(|e| ProbeError::Connect(address, e))?;
        Probe::introduce(assoc, address, carrier, me, deadline).await
    }

    /// As [`Probe::connect`] over TLS (TCP): the registrar must accept
    /// this endpoint's certificate as a registrar's.
    pub async fn connect_tls(
        address: SocketAddr,
        tls: &TlsClient,
        me: ServerId,
        limit: Duration,
    ) -> Result<Probe, ProbeError> {
        let deadline = Instant::now() + limit;
        let up = async {
            let a = transport::connect(address, Carrier::Tcp, Ppid::Enrp).await?;
            tls.connect(a, Expect::Registrar).await
        };
        let assoc = tokio::time::timeout_at(deadline, up)
            .await
            .map_err(|_| ProbeError::Timeout("the association to come up"))?
            .map_err(|e| ProbeError::Connect(address, e))?;
        Probe::introduce(assoc, address, Carrier::Tcp, me, deadline).await
    }

    async fn introduce(
        assoc: Association,
        address: SocketAddr,
        carrier: Carrier,
        me: ServerId,
        deadline: Instant,
    ) -> Result<Probe, ProbeError> {
        let local = assoc.local_addr().ok();
        let (out, out_rx) = mpsc::channel(SEND_QUEUE);
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let (endpoint, endpoint_rx) = watch::channel(no_endpoint(carrier));
        let writer = tokio::spawn(write_loop(assoc.writer, out_rx));
        let reader = tokio::spawn(read_loop(assoc.reader, out.clone(), tx, me, endpoint_rx));
        let mut probe = Probe {
            rx,
            out: Some(out),
            reader,
            writer: Some(writer),
            address,
            carrier,
            me,
            registrar: ServerInformation {
                server_id: ServerId(0),
                transport: no_endpoint(carrier),
            },
            announced_checksum: None,
        };
        let first = presence(me, ServerId(0), true, &endpoint.borrow());
        probe.send(first).await?;
        // Half the time left at most, so that the second PRESENCE has
        // time to be answered too.
        let left = deadline.saturating_duration_since(Instant::now());
        let plain_until = Instant::now() + PLAIN_PRESENCE_WAIT.min(left / 2);
        let mut named = false;
        loop {
            let wait = if named { deadline } else { plain_until };
            let m = match probe.recv(wait, "the registrar's PRESENCE").await {
                Err(ProbeError::Timeout(_)) if !named => {
                    named = true;
                    if let Some(local) = local {
                        endpoint.send_replace(endpoint_at(carrier, local));
                    }
                    let named_presence = presence(me, ServerId(0), true, &endpoint.borrow());
                    probe.send(named_presence).await?;
                    continue;
                }
                m => m?,
            };
            if let EnrpMessage::Presence(p) = m {
                probe.registrar = p.server_info;
                probe.registrar.server_id = p.sender;
                probe.announced_checksum = p.checksum;
                return Ok(probe);
            }
        }
    }

    /// Fetches the whole handlespace and the peer list within `limit`.
    pub async fn snapshot(&mut self, limit: Duration) -> Result<Snapshot, ProbeError> {
        let deadline = Instant::now() + limit;
        let id = self.registrar.server_id;
        self.send(HandleTableRequest {
            own_children_only: false,
            sender: self.me,
            receiver: id,
        })
        .await?;
        self.send(ListRequest {
            sender: self.me,
            receiver: id,
        })
        .await?;
        let mut table = SnapshotBuilder::default();
        let mut table_done = false;
        let mut peers: Option<Vec<ServerInformation>> = None;
        while !table_done || peers.is_none() {
            let what = if table_done {
                "the LIST_RESPONSE"
            } else {
                "the HANDLE_TABLE_RESPONSE"
            };
            match self.recv(deadline, what).await? {
                EnrpMessage::HandleTableResponse(r) => {
                    table_done = self.on_table_block(&mut table, r).await?;
                }
                EnrpMessage::ListResponse(l) => {
                    // A refusal leaves the peer list unknown, not the dump failed.
                    peers = Some(if l.reject { Vec::new() } else { l.servers });
                }
                EnrpMessage::Error(e) => {
                    let causes: Vec<&str> = e.error.causes.iter().map(|c| c.code.name()).collect();
                    return Err(ProbeError::Refused(format!("ERROR: {}", causes.join(", "))));
                }
                EnrpMessage::Presence(p) => self.announced_checksum = p.checksum,
                _ => {}
            }
        }
        let mut peers = peers.unwrap_or_default();
        // Other probes show up as peers too; they own nothing and have no
        // address, so they are left out.
        peers.retain(|p| !is_no_endpoint(&p.transport));
        peers.sort_by_key(|p| p.server_id);
        Ok(table.finish(
            self.registrar.clone(),
            self.address,
            self.carrier,
            self.announced_checksum,
            peers,
        ))
    }

    /// Adds one block; true when it was the last one, else asks for the next.
    async fn on_table_block(
        &mut self,
        table: &mut SnapshotBuilder,
        r: HandleTableResponse,
    ) -> Result<bool, ProbeError> {
        if r.reject {
            return Err(ProbeError::Refused(
                "HANDLE_TABLE_RESPONSE with the R flag".into(),
            ));
        }
        table.add_block(r.pools);
        if !r.more_to_send {
            return Ok(true);
        }
        self.send(HandleTableRequest {
            own_children_only: false,
            sender: self.me,
            receiver: self.registrar.server_id,
        })
        .await?;
        Ok(false)
    }

    /// Closes the association cleanly (the registrar reads end of stream).
    pub async fn close(mut self) {
        self.reader.abort();
        // The writer drains what is queued, then shuts the stream down.
        self.out = None;
        if let Some(w) = self.writer.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), w).await;
        }
    }

    async fn send(&mut self, m: impl Into<EnrpMessage>) -> Result<(), ProbeError> {
        // The probe's requests are a few dozen bytes.
        let bytes = m
            .into()
            .to_bytes()
            .expect("a probe request fits in a message");
        match &self.out {
            Some(out) => out.send(bytes).await.map_err(|_| ProbeError::Closed),
            None => Err(ProbeError::Closed),
        }
    }

    async fn recv(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<EnrpMessage, ProbeError> {
        tokio::time::timeout_at(deadline, self.rx.recv())
            .await
            .map_err(|_| ProbeError::Timeout(what))?
            .unwrap_or(Err(ProbeError::Closed))
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(w) = &self.writer {
            w.abort();
        }
    }
}

async fn write_loop(mut writer: AssocWriter, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if writer.send(&bytes).await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// Reads every message: answers what a peer must answer, hands responses
/// to the probe, drops the rest (Handle Updates, takeover notices).
async fn read_loop(
    mut reader: AssocReader,
    out: mpsc::Sender<Vec<u8>>,
    to_probe: mpsc::Sender<Result<EnrpMessage, ProbeError>>,
    me: ServerId,
    endpoint: watch::Receiver<TransportParam>,
) {
    let decode = DecodeOptions::default();
    loop {
        let m = match reader.recv().await {
            Ok(Some(bytes)) => EnrpMessage::decode(bytes, &decode)
                .map(|d| d.message)
                .map_err(ProbeError::Decode),
            Ok(None) => Err(ProbeError::Closed),
            Err(e) => Err(ProbeError::Io(e)),
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                let _ = to_probe.send(Err(e)).await;
                return;
            }
        };
        let a = answer(&m, me, &endpoint.borrow());
        if let Some(a) = a {
            let Ok(bytes) = a.to_bytes() else {
                return;
            };
            if out.send(bytes).await.is_err() {
                return;
            }
        }
        let response = matches!(
            m,
            EnrpMessage::HandleTableResponse(_)
                | EnrpMessage::ListResponse(_)
                | EnrpMessage::Error(_)
        );
        if matches!(m, EnrpMessage::Presence(_)) {
            // Heartbeats: the probe may be idle, so a full queue drops them.
            let _ = to_probe.try_send(Ok(m));
        } else if response && to_probe.send(Ok(m)).await.is_err() {
            return;
        }
    }
}

/// What a peer owes the registrar for a message it did not ask for.
pub fn answer(m: &EnrpMessage, me: ServerId, endpoint: &TransportParam) -> Option<EnrpMessage> {
    let from = m.sender();
    Some(match m {
        EnrpMessage::Presence(p) if p.reply_required => presence(me, from, false, endpoint),
        EnrpMessage::HandleTableRequest(_) => HandleTableResponse {
            reject: true,
            more_to_send: false,
            sender: me,
            receiver: from,
            pools: Vec::new(),
        }
        .into(),
        EnrpMessage::ListRequest(_) => ListResponse {
            reject: false,
            sender: me,
            receiver: from,
            servers: Vec::new(),
        }
        .into(),
        // Someone thinks the probe is dead: it is not.
        EnrpMessage::InitTakeover(t) if t.target_server_id == me => {
            presence(me, from, false, endpoint)
        }
        EnrpMessage::InitTakeover(t) => InitTakeoverAck {
            sender: me,
            receiver: from,
            target_server_id: t.target_server_id,
        }
        .into(),
        _ => return None,
    })
}

/// How long the first PRESENCE (no endpoint) may go unanswered before the
/// probe names its address (see the module doc).
pub const PLAIN_PRESENCE_WAIT: Duration = Duration::from_secs(1);

/// A PRESENCE of the probe: it owns no PEs, so it announces the checksum of
/// an empty handlespace (RFC 5353 makes the PE Checksum parameter part of
/// every PRESENCE, and RSPLIB drops one without it).
fn presence(
    me: ServerId,
    to: ServerId,
    reply_required: bool,
    endpoint: &TransportParam,
) -> EnrpMessage {
    Presence {
        reply_required,
        sender: me,
        receiver: to,
        checksum: Some(ChecksumSum::EMPTY.finish().0),
        server_info: ServerInformation {
            server_id: me,
            transport: endpoint.clone(),
        },
    }
    .into()
}

/// The transport of the address the probe's association leaves from.
fn endpoint_at(carrier: Carrier, local: SocketAddr) -> TransportParam {
    match carrier {
        Carrier::Sctp => TransportParam::Sctp {
            port: local.port(),
            transport_use: TransportUse::DataOnly,
            addresses: [local.ip()].into_iter().collect(),
        },
        Carrier::Tcp => TransportParam::Tcp {
            port: local.port(),
            transport_use: TransportUse::DataOnly,
            address: local.ip(),
        },
    }
}

/// A transport parameter nobody can connect to: the probe accepts no
/// associations.
fn no_endpoint(carrier: Carrier) -> TransportParam {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    match carrier {
        Carrier::Sctp => TransportParam::Sctp {
            port: 0,
            transport_use: TransportUse::DataOnly,
            addresses: [any].into_iter().collect(),
        },
        Carrier::Tcp => TransportParam::Tcp {
            port: 0,
            transport_use: TransportUse::DataOnly,
            address: any,
        },
    }
}

fn is_no_endpoint(t: &TransportParam) -> bool {
    t.port() == 0 && t.addresses().iter().all(IpAddr::is_unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rserpool_proto::wire::enrp::{HandleUpdate, InitTakeover, UpdateAction};
    use rserpool_proto::wire::{DecodeOptions, PeId, Policy, PoolElement};

    const ME: ServerId = ServerId(0x77);
    const PR: ServerId = ServerId(0x11);

    fn roundtrip(m: EnrpMessage) -> EnrpMessage {
        // Whatever the probe answers must decode.
        EnrpMessage::decode(&m.to_bytes().expect("encodes"), &DecodeOptions::default())
            .unwrap()
            .message
    }

    #[test]
    fn a_presence_that_asks_is_answered_without_an_endpoint() {
        let ask = presence(PR, ME, true, &no_endpoint(Carrier::Tcp));
        match answer(&ask, ME, &no_endpoint(Carrier::Tcp)).map(roundtrip) {
            Some(EnrpMessage::Presence(p)) => {
                assert!(!p.reply_required);
                assert_eq!((p.sender, p.receiver), (ME, PR));
                assert!(is_no_endpoint(&p.server_info.transport));
                assert_eq!(p.checksum, Some(ChecksumSum::EMPTY.finish().0));
            }
            other => panic!("{other:?}"),
        }
        let heartbeat = presence(PR, ME, false, &no_endpoint(Carrier::Sctp));
        assert_eq!(answer(&heartbeat, ME, &no_endpoint(Carrier::Sctp)), None);
    }

    #[test]
    fn the_registrars_table_request_is_refused_and_its_list_request_answered_empty() {
        let htr = EnrpMessage::from(HandleTableRequest {
            own_children_only: false,
            sender: PR,
            receiver: ME,
        });
        match answer(&htr, ME, &no_endpoint(Carrier::Tcp)).map(roundtrip) {
            Some(EnrpMessage::HandleTableResponse(r)) => {
                assert!(r.reject && !r.more_to_send && r.pools.is_empty());
                assert_eq!(r.receiver, PR);
            }
            other => panic!("{other:?}"),
        }
        let lr = EnrpMessage::from(ListRequest {
            sender: PR,
            receiver: ME,
        });
        match answer(&lr, ME, &no_endpoint(Carrier::Tcp)).map(roundtrip) {
            Some(EnrpMessage::ListResponse(l)) => assert!(!l.reject && l.servers.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn takeovers_of_others_are_acknowledged_and_of_itself_denied() {
        let it = |target| {
            EnrpMessage::from(InitTakeover {
                sender: PR,
                receiver: ME,
                target_server_id: target,
            })
        };
        match answer(&it(ServerId(0x22)), ME, &no_endpoint(Carrier::Tcp)) {
            Some(EnrpMessage::InitTakeoverAck(a)) => {
                assert_eq!(a.target_server_id, ServerId(0x22));
                assert_eq!(a.receiver, PR);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            answer(&it(ME), ME, &no_endpoint(Carrier::Tcp)),
            Some(EnrpMessage::Presence(_))
        ));
    }

    #[test]
    fn handle_updates_need_no_answer() {
        let u = EnrpMessage::from(HandleUpdate {
            takeover_suggested: false,
            sender: PR,
            receiver: ME,
            action: UpdateAction::AddPe,
            pool_handle: "p".into(),
            pool_element: PoolElement {
                pe_id: PeId(1),
                home_server_id: PR,
                registration_life: 1,
                user_transport: no_endpoint(Carrier::Tcp),
                policy: Policy::Random,
                asap_transport: None,
            },
        });
        assert_eq!(answer(&u, ME, &no_endpoint(Carrier::Tcp)), None);
    }
}

//! A pseudo-peer on a registrar's ENRP port: it introduces itself with a
//! PRESENCE under a random server ID, then asks for the handlespace
//! (HANDLE_TABLE_REQUEST, block by block while the M flag is set) and for
//! the registrar's peers (LIST_REQUEST).
//!
//! The registrar treats the probe as a peer, so the probe also behaves as
//! one: it answers PRESENCE probes, refuses the registrar's own
//! HANDLE_TABLE_REQUEST (it has no handlespace to offer, and an empty
//! answer would wrongly count as a completed synchronisation), answers
//! LIST_REQUEST with no servers and acknowledges every INIT_TAKEOVER so a
//! real takeover never waits for it. Its Server Information names an
//! unspecified address, so no registrar ever tries to connect back to it,
//! and it owns no PEs, so losing it triggers no takeover.

use super::snapshot::{Snapshot, SnapshotBuilder};
use rserpool::transport::{self, AssocWriter, Carrier, Ppid};
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
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Messages read ahead of the probe; the registrar's writer queue holds
/// far more, so nothing is lost while the probe is busy.
const READ_AHEAD: usize = 256;

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
    /// Messages from a reader task: reads are not cancel-safe, channel
    /// receives are, so timeouts wrap only the latter.
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    reader: JoinHandle<()>,
    writer: AssocWriter,
    address: SocketAddr,
    carrier: Carrier,
    me: ServerId,
    registrar: ServerInformation,
    /// What the registrar said about itself when it last sent a PRESENCE.
    announced_checksum: Option<u16>,
    decode: DecodeOptions,
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
        let placeholder = ServerInformation {
            server_id: ServerId(0),
            transport: no_endpoint(carrier),
        };
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let mut reader = assoc.reader;
        let reader = tokio::spawn(async move {
            loop {
                let m = match reader.recv().await {
                    Ok(Some(m)) => Ok(m.to_vec()),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let failed = m.is_err();
                if tx.send(m).await.is_err() || failed {
                    return;
                }
            }
        });
        let mut probe = Probe {
            rx,
            reader,
            writer: assoc.writer,
            address,
            carrier,
            me,
            registrar: placeholder,
            announced_checksum: None,
            decode: DecodeOptions::default(),
        };
        probe
            .send(Presence {
                reply_required: true,
                sender: me,
                receiver: ServerId(0),
                checksum: None,
                server_info: ServerInformation {
                    server_id: me,
                    transport: no_endpoint(carrier),
                },
            })
            .await?;
        loop {
            let m = probe.recv(deadline, "the registrar's PRESENCE").await?;
            if let EnrpMessage::Presence(p) = &m {
                probe.registrar = p.server_info.clone();
                probe.registrar.server_id = p.sender;
                probe.announced_checksum = p.checksum;
            }
            let identified = probe.registrar.server_id.0 != 0;
            probe.answer(m).await?;
            if identified {
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
                other => self.answer(other).await?,
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

    /// What a peer owes the registrar for a message the probe did not ask for.
    async fn answer(&mut self, m: EnrpMessage) -> Result<(), ProbeError> {
        let id = m.sender();
        match m {
            EnrpMessage::Presence(p) => {
                self.announced_checksum = p.checksum;
                if p.reply_required {
                    self.send(Presence {
                        reply_required: false,
                        sender: self.me,
                        receiver: id,
                        checksum: None,
                        server_info: ServerInformation {
                            server_id: self.me,
                            transport: no_endpoint(self.carrier),
                        },
                    })
                    .await?;
                }
            }
            EnrpMessage::HandleTableRequest(_) => {
                self.send(HandleTableResponse {
                    reject: true,
                    more_to_send: false,
                    sender: self.me,
                    receiver: id,
                    pools: Vec::new(),
                })
                .await?;
            }
            EnrpMessage::ListRequest(_) => {
                self.send(ListResponse {
                    reject: false,
                    sender: self.me,
                    receiver: id,
                    servers: Vec::new(),
                })
                .await?;
            }
            EnrpMessage::InitTakeover(t) if t.target_server_id != self.me => {
                self.send(InitTakeoverAck {
                    sender: self.me,
                    receiver: id,
                    target_server_id: t.target_server_id,
                })
                .await?;
            }
            // Handle Updates, stray responses, takeover notices: a dump
            // reads the whole table instead.
            _ => {}
        }
        Ok(())
    }

    /// Closes the association cleanly (the registrar reads end of stream).
    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
    }

    async fn send(&mut self, m: impl Into<EnrpMessage>) -> Result<(), ProbeError> {
        let bytes = m.into().to_bytes();
        self.writer.send(&bytes).await.map_err(ProbeError::Io)
    }

    async fn recv(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<EnrpMessage, ProbeError> {
        let r = tokio::time::timeout_at(deadline, self.rx.recv())
            .await
            .map_err(|_| ProbeError::Timeout(what))?;
        self.decode(r)
    }

    fn decode(&self, r: Option<io::Result<Vec<u8>>>) -> Result<EnrpMessage, ProbeError> {
        let bytes = r.ok_or(ProbeError::Closed)?.map_err(ProbeError::Io)?;
        EnrpMessage::decode(&bytes, &self.decode)
            .map(|d| d.message)
            .map_err(ProbeError::Decode)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.reader.abort();
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
            addresses: vec![any],
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

//! ENRP messages (RFC 5353 section 2), one struct per message type.
//!
//! Every ENRP message starts with the sender's and the receiver's server ID
//! (0 = not addressed to a particular PR, e.g. multicast Presence).
//! Reserved flag bits are ignored on receipt and sent as zero.

use super::ids::{PoolHandle, ServerId};
use super::param::{OperationError, PoolElement, ServerInformation};

/// ENRP message type codes (CONSTANTS.md section 4).
pub mod msg_type {
    /// `PRESENCE`.
    pub const PRESENCE: u8 = 0x01;
    /// `HANDLE_TABLE_REQUEST`.
    pub const HANDLE_TABLE_REQUEST: u8 = 0x02;
    /// `HANDLE_TABLE_RESPONSE`.
    pub const HANDLE_TABLE_RESPONSE: u8 = 0x03;
    /// `HANDLE_UPDATE`.
    pub const HANDLE_UPDATE: u8 = 0x04;
    /// `LIST_REQUEST`.
    pub const LIST_REQUEST: u8 = 0x05;
    /// `LIST_RESPONSE`.
    pub const LIST_RESPONSE: u8 = 0x06;
    /// `INIT_TAKEOVER`.
    pub const INIT_TAKEOVER: u8 = 0x07;
    /// `INIT_TAKEOVER_ACK`.
    pub const INIT_TAKEOVER_ACK: u8 = 0x08;
    /// `TAKEOVER_SERVER`.
    pub const TAKEOVER_SERVER: u8 = 0x09;
    /// `ERROR`.
    pub const ERROR: u8 = 0x0a;

    /// The RFC name in upper snake case, `None` for unknown types.
    pub fn name(t: u8) -> Option<&'static str> {
        Some(match t {
            PRESENCE => "PRESENCE",
            HANDLE_TABLE_REQUEST => "HANDLE_TABLE_REQUEST",
            HANDLE_TABLE_RESPONSE => "HANDLE_TABLE_RESPONSE",
            HANDLE_UPDATE => "HANDLE_UPDATE",
            LIST_REQUEST => "LIST_REQUEST",
            LIST_RESPONSE => "LIST_RESPONSE",
            INIT_TAKEOVER => "INIT_TAKEOVER",
            INIT_TAKEOVER_ACK => "INIT_TAKEOVER_ACK",
            TAKEOVER_SERVER => "TAKEOVER_SERVER",
            ERROR => "ERROR",
            _ => return None,
        })
    }
}

/// ENRP flag bits.
pub mod flags {
    /// PRESENCE: the receiver must answer with a Presence.
    pub const REPLY_REQUIRED: u8 = 0x01;
    /// HANDLE_TABLE_REQUEST: send only the PEs the receiver is home PR of.
    pub const OWN_CHILDREN_ONLY: u8 = 0x01;
    /// HANDLE_TABLE_RESPONSE / LIST_RESPONSE: request rejected.
    pub const REJECT: u8 = 0x01;
    /// HANDLE_TABLE_RESPONSE: more entries follow in further responses.
    pub const MORE_TO_SEND: u8 = 0x02;
    /// HANDLE_UPDATE: takeover suggested (RSPLIB extension).
    pub const TAKEOVER_SUGGESTED: u8 = 0x01;
}

/// Registrar heartbeat, multicast or unicast.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Presence {
    /// R flag.
    pub reply_required: bool,
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// PE Checksum parameter over the sender's own PEs (RSPLIB always sends
    /// it). The two bytes read big-endian: the RFC 1071 checksum over
    /// big-endian 16-bit words of (pool handle, zero-padded to even length,
    /// then PE ID in network order) of each PE. RSPLIB computes and stores
    /// it in host order, which gives the same bytes (checked against the
    /// capture: 0x1615 for its four PEs).
    pub checksum: Option<u16>,
    /// The sender's ID and ENRP endpoint.
    pub server_info: ServerInformation,
}

/// Ask a peer for its handlespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HandleTableRequest {
    /// W flag: only the PEs the receiver is home registrar of.
    pub own_children_only: bool,
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
}

/// One pool's entries in a Handle Table Response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PoolEntries {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// One or more PEs (with their ASAP transport, as RSPLIB sends them).
    pub pool_elements: Vec<PoolElement>,
}

/// A block of the handlespace: (Pool Handle, Pool Element+)*.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HandleTableResponse {
    /// R flag.
    pub reject: bool,
    /// M flag.
    pub more_to_send: bool,
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// The pools, each with some of its PEs.
    pub pools: Vec<PoolEntries>,
}

/// Handle Update action (RFC 5353 section 2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u16)]
pub enum UpdateAction {
    /// ADD_PE: add or update.
    AddPe = 0,
    /// DEL_PE: remove.
    DelPe = 1,
}

impl UpdateAction {
    /// The action with this wire code.
    pub fn from_code(code: u16) -> Option<UpdateAction> {
        match code {
            0 => Some(UpdateAction::AddPe),
            1 => Some(UpdateAction::DelPe),
            _ => None,
        }
    }
    /// The code on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }
}

/// A PE was added (or updated) or removed at its home registrar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HandleUpdate {
    /// T flag (RSPLIB takeover extension).
    pub takeover_suggested: bool,
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// Add or remove.
    pub action: UpdateAction,
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The PE, with its home registrar.
    pub pool_element: PoolElement,
}

/// Ask a peer for the registrars it knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ListRequest {
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
}

/// The registrars the sender knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ListResponse {
    /// R flag.
    pub reject: bool,
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// The registrars the sender knows.
    pub servers: Vec<ServerInformation>,
}

/// Start taking over the PEs of `target_server_id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InitTakeover {
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// The registrar being taken over.
    pub target_server_id: ServerId,
}

/// Agree to a takeover of `target_server_id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InitTakeoverAck {
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// The registrar being taken over.
    pub target_server_id: ServerId,
}

/// The takeover of `target_server_id` is done.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TakeoverServer {
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// The registrar being taken over.
    pub target_server_id: ServerId,
}

/// ENRP ERROR: reports an Operation Error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Error {
    /// The sending registrar's ID.
    pub sender: ServerId,
    /// The receiving registrar's ID (0 when the sender does not know it yet).
    pub receiver: ServerId,
    /// What the sender could not handle.
    pub error: OperationError,
}

/// Every ENRP message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "type", content = "body", rename_all = "SCREAMING_SNAKE_CASE")
)]
pub enum EnrpMessage {
    /// `PRESENCE`.
    Presence(Presence),
    /// `HANDLE_TABLE_REQUEST`.
    HandleTableRequest(HandleTableRequest),
    /// `HANDLE_TABLE_RESPONSE`.
    HandleTableResponse(HandleTableResponse),
    /// `HANDLE_UPDATE`.
    HandleUpdate(HandleUpdate),
    /// `LIST_REQUEST`.
    ListRequest(ListRequest),
    /// `LIST_RESPONSE`.
    ListResponse(ListResponse),
    /// `INIT_TAKEOVER`.
    InitTakeover(InitTakeover),
    /// `INIT_TAKEOVER_ACK`.
    InitTakeoverAck(InitTakeoverAck),
    /// `TAKEOVER_SERVER`.
    TakeoverServer(TakeoverServer),
    /// `ERROR`.
    Error(Error),
}

impl EnrpMessage {
    /// The message type code on the wire.
    pub fn msg_type(&self) -> u8 {
        use EnrpMessage as M;
        use msg_type as t;
        match self {
            M::Presence(_) => t::PRESENCE,
            M::HandleTableRequest(_) => t::HANDLE_TABLE_REQUEST,
            M::HandleTableResponse(_) => t::HANDLE_TABLE_RESPONSE,
            M::HandleUpdate(_) => t::HANDLE_UPDATE,
            M::ListRequest(_) => t::LIST_REQUEST,
            M::ListResponse(_) => t::LIST_RESPONSE,
            M::InitTakeover(_) => t::INIT_TAKEOVER,
            M::InitTakeoverAck(_) => t::INIT_TAKEOVER_ACK,
            M::TakeoverServer(_) => t::TAKEOVER_SERVER,
            M::Error(_) => t::ERROR,
        }
    }

    /// The RFC name in upper snake case, e.g. `HANDLE_TABLE_REQUEST`.
    pub fn type_name(&self) -> &'static str {
        msg_type::name(self.msg_type()).unwrap_or("UNKNOWN")
    }

    /// Always [`Protocol::Enrp`](super::Protocol::Enrp).
    pub fn protocol(&self) -> super::Protocol {
        super::Protocol::Enrp
    }

    /// The flags byte this message is encoded with.
    pub fn flags(&self) -> u8 {
        use EnrpMessage as M;
        match self {
            M::Presence(m) if m.reply_required => flags::REPLY_REQUIRED,
            M::HandleTableRequest(m) if m.own_children_only => flags::OWN_CHILDREN_ONLY,
            M::HandleTableResponse(m) => {
                (if m.reject { flags::REJECT } else { 0 })
                    | (if m.more_to_send {
                        flags::MORE_TO_SEND
                    } else {
                        0
                    })
            }
            M::HandleUpdate(m) if m.takeover_suggested => flags::TAKEOVER_SUGGESTED,
            M::ListResponse(m) if m.reject => flags::REJECT,
            _ => 0,
        }
    }

    /// The sender's server ID.
    pub fn sender(&self) -> ServerId {
        self.ids().0
    }

    /// The receiver's server ID (0 = any).
    pub fn receiver(&self) -> ServerId {
        self.ids().1
    }

    fn ids(&self) -> (ServerId, ServerId) {
        use EnrpMessage as M;
        match self {
            M::Presence(m) => (m.sender, m.receiver),
            M::HandleTableRequest(m) => (m.sender, m.receiver),
            M::HandleTableResponse(m) => (m.sender, m.receiver),
            M::HandleUpdate(m) => (m.sender, m.receiver),
            M::ListRequest(m) => (m.sender, m.receiver),
            M::ListResponse(m) => (m.sender, m.receiver),
            M::InitTakeover(m) => (m.sender, m.receiver),
            M::InitTakeoverAck(m) => (m.sender, m.receiver),
            M::TakeoverServer(m) => (m.sender, m.receiver),
            M::Error(m) => (m.sender, m.receiver),
        }
    }
}

macro_rules! enrp_from {
    ($($v:ident => $code:ident),*) => {$(
        impl $v {
            /// The message type code on the wire.
            pub const MSG_TYPE: u8 = msg_type::$code;
            /// The RFC name in upper snake case.
            pub fn type_name(&self) -> &'static str {
                stringify!($code)
            }
            /// Always [`Protocol::Enrp`](super::Protocol::Enrp).
            pub fn protocol(&self) -> super::Protocol {
                super::Protocol::Enrp
            }
        }
        impl From<$v> for EnrpMessage {
            fn from(m: $v) -> EnrpMessage { EnrpMessage::$v(m) }
        }
        impl From<$v> for super::Message {
            fn from(m: $v) -> super::Message { super::Message::Enrp(EnrpMessage::$v(m)) }
        }
    )*};
}
enrp_from!(
    Presence => PRESENCE,
    HandleTableRequest => HANDLE_TABLE_REQUEST,
    HandleTableResponse => HANDLE_TABLE_RESPONSE,
    HandleUpdate => HANDLE_UPDATE,
    ListRequest => LIST_REQUEST,
    ListResponse => LIST_RESPONSE,
    InitTakeover => INIT_TAKEOVER,
    InitTakeoverAck => INIT_TAKEOVER_ACK,
    TakeoverServer => TAKEOVER_SERVER,
    Error => ERROR
);

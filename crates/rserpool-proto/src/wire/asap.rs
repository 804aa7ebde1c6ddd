//! ASAP messages (RFC 5352 section 2.2), one struct per message type.
//!
//! Parameters are listed in wire order. Flags that the RFC (or RSPLIB)
//! defines are `bool` fields; reserved flag bits are ignored on receipt and
//! sent as zero.

use super::ids::{PeId, PoolHandle, ServerId};
use super::param::{OperationError, PoolElement};
use super::policy::Policy;
use super::transport::TransportParam;

/// ASAP message type codes (CONSTANTS.md section 3).
pub mod msg_type {
    /// `REGISTRATION`.
    pub const REGISTRATION: u8 = 0x01;
    /// `DEREGISTRATION`.
    pub const DEREGISTRATION: u8 = 0x02;
    /// `REGISTRATION_RESPONSE`.
    pub const REGISTRATION_RESPONSE: u8 = 0x03;
    /// `DEREGISTRATION_RESPONSE`.
    pub const DEREGISTRATION_RESPONSE: u8 = 0x04;
    /// `HANDLE_RESOLUTION`.
    pub const HANDLE_RESOLUTION: u8 = 0x05;
    /// `HANDLE_RESOLUTION_RESPONSE`.
    pub const HANDLE_RESOLUTION_RESPONSE: u8 = 0x06;
    /// `ENDPOINT_KEEP_ALIVE`.
    pub const ENDPOINT_KEEP_ALIVE: u8 = 0x07;
    /// `ENDPOINT_KEEP_ALIVE_ACK`.
    pub const ENDPOINT_KEEP_ALIVE_ACK: u8 = 0x08;
    /// `ENDPOINT_UNREACHABLE`.
    pub const ENDPOINT_UNREACHABLE: u8 = 0x09;
    /// `SERVER_ANNOUNCE`.
    pub const SERVER_ANNOUNCE: u8 = 0x0a;
    /// `COOKIE`.
    pub const COOKIE: u8 = 0x0b;
    /// `COOKIE_ECHO`.
    pub const COOKIE_ECHO: u8 = 0x0c;
    /// `BUSINESS_CARD`.
    pub const BUSINESS_CARD: u8 = 0x0d;
    /// `ERROR`.
    pub const ERROR: u8 = 0x0e;

    /// The RFC name in upper snake case, `None` for unknown types.
    pub fn name(t: u8) -> Option<&'static str> {
        Some(match t {
            REGISTRATION => "REGISTRATION",
            DEREGISTRATION => "DEREGISTRATION",
            REGISTRATION_RESPONSE => "REGISTRATION_RESPONSE",
            DEREGISTRATION_RESPONSE => "DEREGISTRATION_RESPONSE",
            HANDLE_RESOLUTION => "HANDLE_RESOLUTION",
            HANDLE_RESOLUTION_RESPONSE => "HANDLE_RESOLUTION_RESPONSE",
            ENDPOINT_KEEP_ALIVE => "ENDPOINT_KEEP_ALIVE",
            ENDPOINT_KEEP_ALIVE_ACK => "ENDPOINT_KEEP_ALIVE_ACK",
            ENDPOINT_UNREACHABLE => "ENDPOINT_UNREACHABLE",
            SERVER_ANNOUNCE => "SERVER_ANNOUNCE",
            COOKIE => "COOKIE",
            COOKIE_ECHO => "COOKIE_ECHO",
            BUSINESS_CARD => "BUSINESS_CARD",
            ERROR => "ERROR",
            _ => return None,
        })
    }
}

/// ASAP flag bits.
pub mod flags {
    /// REGISTRATION_RESPONSE: the registration was rejected.
    pub const REJECT: u8 = 0x01;
    /// ENDPOINT_KEEP_ALIVE: the sender wants to become the PE's home PR.
    pub const HOME: u8 = 0x01;
}

/// PE to PR: register (or re-register) a PE into a pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Registration {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The PE as it registers.
    pub pool_element: PoolElement,
}

/// PE to PR: remove a PE from its pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Deregistration {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The pool element's identifier.
    pub pe_id: PeId,
}

/// PR to PE: answer to a Registration. `reject` is the R flag; a rejection
/// carries an Operation Error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RegistrationResponse {
    /// The R flag: the registration was refused.
    pub reject: bool,
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The pool element's identifier.
    pub pe_id: PeId,
    /// Why the request failed, if it did.
    pub error: Option<OperationError>,
}

/// PR to PE: answer to a Deregistration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DeregistrationResponse {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The pool element's identifier.
    pub pe_id: PeId,
    /// Why the request failed, if it did.
    pub error: Option<OperationError>,
}

/// PU to PR: resolve a pool handle to PEs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HandleResolution {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// RSPLIB's Handle Resolution option (parameter 0x803f): how many PEs
    /// the PU wants (0xffffffff = all).
    pub items: Option<u32>,
}

/// PR to PU: the selected PEs (RSPLIB always sends the pool's policy before
/// them), or an Operation Error (e.g. Unknown Pool Handle).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HandleResolutionResponse {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The pool's policy (RSPLIB sends it).
    pub policy: Option<Policy>,
    /// The selected PEs, in the order to try them.
    pub pool_elements: Vec<PoolElement>,
    /// Why the request failed, if it did.
    pub error: Option<OperationError>,
}

/// PR to PE: are you alive? `home` is the H flag. RSPLIB adds the PE
/// Identifier (an extension); the RFC message has only the Pool Handle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointKeepAlive {
    /// The H flag: the sender is now the PE's home registrar (takeover).
    pub home: bool,
    /// The sending registrar's ID.
    pub server_id: ServerId,
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The PE asked about; `None` asks all of the pool's PEs on the association.
    pub pe_id: Option<PeId>,
}

/// PE to PR: yes, alive.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointKeepAliveAck {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The pool element's identifier.
    pub pe_id: PeId,
}

/// PU to PR: this PE did not answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointUnreachable {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The pool element's identifier.
    pub pe_id: PeId,
}

/// PR announcing itself by multicast. RSPLIB sends only the server ID (the
/// receiver uses the datagram's source); the RFC allows transport
/// parameters of the PR's ASAP endpoint after it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ServerAnnounce {
    /// The announcing registrar's ID.
    pub server_id: ServerId,
    /// Its ASAP endpoints (RSPLIB sends none: then the source address).
    pub transports: Vec<TransportParam>,
}

/// PE to PU over the control channel: state to hand to a failover PE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Cookie {
    /// The PE's state for this session, opaque to the pool user.
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::serde_hex"))]
    pub cookie: Vec<u8>,
}

/// PU to a new PE after failover: the last cookie received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CookieEcho {
    /// The last cookie received from the failed PE.
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::serde_hex"))]
    pub cookie: Vec<u8>,
}

/// PE to PU (or PU to PE): failover candidates. RSPLIB sends the pool policy
/// before the PEs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BusinessCard {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// The pool's policy (RSPLIB sends it).
    pub policy: Option<Policy>,
    /// PEs to fail over to, in order of preference.
    pub pool_elements: Vec<PoolElement>,
}

/// ASAP ERROR: reports an Operation Error (e.g. an unrecognized message).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Error {
    /// What the sender could not handle.
    pub error: OperationError,
}

/// Every ASAP message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "type", content = "body", rename_all = "SCREAMING_SNAKE_CASE")
)]
pub enum AsapMessage {
    /// `REGISTRATION`.
    Registration(Registration),
    /// `DEREGISTRATION`.
    Deregistration(Deregistration),
    /// `REGISTRATION_RESPONSE`.
    RegistrationResponse(RegistrationResponse),
    /// `DEREGISTRATION_RESPONSE`.
    DeregistrationResponse(DeregistrationResponse),
    /// `HANDLE_RESOLUTION`.
    HandleResolution(HandleResolution),
    /// `HANDLE_RESOLUTION_RESPONSE`.
    HandleResolutionResponse(HandleResolutionResponse),
    /// `ENDPOINT_KEEP_ALIVE`.
    EndpointKeepAlive(EndpointKeepAlive),
    /// `ENDPOINT_KEEP_ALIVE_ACK`.
    EndpointKeepAliveAck(EndpointKeepAliveAck),
    /// `ENDPOINT_UNREACHABLE`.
    EndpointUnreachable(EndpointUnreachable),
    /// `SERVER_ANNOUNCE`.
    ServerAnnounce(ServerAnnounce),
    /// `COOKIE`.
    Cookie(Cookie),
    /// `COOKIE_ECHO`.
    CookieEcho(CookieEcho),
    /// `BUSINESS_CARD`.
    BusinessCard(BusinessCard),
    /// `ERROR`.
    Error(Error),
}

impl AsapMessage {
    /// The message type code on the wire.
    pub fn msg_type(&self) -> u8 {
        use AsapMessage as M;
        use msg_type as t;
        match self {
            M::Registration(_) => t::REGISTRATION,
            M::Deregistration(_) => t::DEREGISTRATION,
            M::RegistrationResponse(_) => t::REGISTRATION_RESPONSE,
            M::DeregistrationResponse(_) => t::DEREGISTRATION_RESPONSE,
            M::HandleResolution(_) => t::HANDLE_RESOLUTION,
            M::HandleResolutionResponse(_) => t::HANDLE_RESOLUTION_RESPONSE,
            M::EndpointKeepAlive(_) => t::ENDPOINT_KEEP_ALIVE,
            M::EndpointKeepAliveAck(_) => t::ENDPOINT_KEEP_ALIVE_ACK,
            M::EndpointUnreachable(_) => t::ENDPOINT_UNREACHABLE,
            M::ServerAnnounce(_) => t::SERVER_ANNOUNCE,
            M::Cookie(_) => t::COOKIE,
            M::CookieEcho(_) => t::COOKIE_ECHO,
            M::BusinessCard(_) => t::BUSINESS_CARD,
            M::Error(_) => t::ERROR,
        }
    }

    /// The RFC name in upper snake case, e.g. `HANDLE_RESOLUTION_RESPONSE`.
    pub fn type_name(&self) -> &'static str {
        msg_type::name(self.msg_type()).unwrap_or("UNKNOWN")
    }

    /// Always [`Protocol::Asap`](super::Protocol::Asap).
    pub fn protocol(&self) -> super::Protocol {
        super::Protocol::Asap
    }

    /// The flags byte this message is encoded with.
    pub fn flags(&self) -> u8 {
        match self {
            AsapMessage::RegistrationResponse(m) if m.reject => flags::REJECT,
            AsapMessage::EndpointKeepAlive(m) if m.home => flags::HOME,
            _ => 0,
        }
    }

    /// The pool handle the message is about, if it carries one.
    pub fn pool_handle(&self) -> Option<&PoolHandle> {
        use AsapMessage as M;
        match self {
            M::Registration(m) => Some(&m.pool_handle),
            M::Deregistration(m) => Some(&m.pool_handle),
            M::RegistrationResponse(m) => Some(&m.pool_handle),
            M::DeregistrationResponse(m) => Some(&m.pool_handle),
            M::HandleResolution(m) => Some(&m.pool_handle),
            M::HandleResolutionResponse(m) => Some(&m.pool_handle),
            M::EndpointKeepAlive(m) => Some(&m.pool_handle),
            M::EndpointKeepAliveAck(m) => Some(&m.pool_handle),
            M::EndpointUnreachable(m) => Some(&m.pool_handle),
            M::BusinessCard(m) => Some(&m.pool_handle),
            M::ServerAnnounce(_) | M::Cookie(_) | M::CookieEcho(_) | M::Error(_) => None,
        }
    }
}

macro_rules! asap_from {
    ($($v:ident => $code:ident),*) => {$(
        impl $v {
            /// The message type code on the wire.
            pub const MSG_TYPE: u8 = msg_type::$code;
            /// The RFC name in upper snake case.
            pub fn type_name(&self) -> &'static str {
                stringify!($code)
            }
            /// Always [`Protocol::Asap`](super::Protocol::Asap).
            pub fn protocol(&self) -> super::Protocol {
                super::Protocol::Asap
            }
        }
        impl From<$v> for AsapMessage {
            fn from(m: $v) -> AsapMessage { AsapMessage::$v(m) }
        }
        impl From<$v> for super::Message {
            fn from(m: $v) -> super::Message { super::Message::Asap(AsapMessage::$v(m)) }
        }
    )*};
}
asap_from!(
    Registration => REGISTRATION,
    Deregistration => DEREGISTRATION,
    RegistrationResponse => REGISTRATION_RESPONSE,
    DeregistrationResponse => DEREGISTRATION_RESPONSE,
    HandleResolution => HANDLE_RESOLUTION,
    HandleResolutionResponse => HANDLE_RESOLUTION_RESPONSE,
    EndpointKeepAlive => ENDPOINT_KEEP_ALIVE,
    EndpointKeepAliveAck => ENDPOINT_KEEP_ALIVE_ACK,
    EndpointUnreachable => ENDPOINT_UNREACHABLE,
    ServerAnnounce => SERVER_ANNOUNCE,
    Cookie => COOKIE,
    CookieEcho => COOKIE_ECHO,
    BusinessCard => BUSINESS_CARD,
    Error => ERROR
);

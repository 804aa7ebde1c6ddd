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
    pub const REGISTRATION: u8 = 0x01;
    pub const DEREGISTRATION: u8 = 0x02;
    pub const REGISTRATION_RESPONSE: u8 = 0x03;
    pub const DEREGISTRATION_RESPONSE: u8 = 0x04;
    pub const HANDLE_RESOLUTION: u8 = 0x05;
    pub const HANDLE_RESOLUTION_RESPONSE: u8 = 0x06;
    pub const ENDPOINT_KEEP_ALIVE: u8 = 0x07;
    pub const ENDPOINT_KEEP_ALIVE_ACK: u8 = 0x08;
    pub const ENDPOINT_UNREACHABLE: u8 = 0x09;
    pub const SERVER_ANNOUNCE: u8 = 0x0a;
    pub const COOKIE: u8 = 0x0b;
    pub const COOKIE_ECHO: u8 = 0x0c;
    pub const BUSINESS_CARD: u8 = 0x0d;
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
    pub pool_handle: PoolHandle,
    pub pool_element: PoolElement,
}

/// PE to PR: remove a PE from its pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Deregistration {
    pub pool_handle: PoolHandle,
    pub pe_id: PeId,
}

/// PR to PE: answer to a Registration. `reject` is the R flag; a rejection
/// carries an Operation Error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RegistrationResponse {
    pub reject: bool,
    pub pool_handle: PoolHandle,
    pub pe_id: PeId,
    pub error: Option<OperationError>,
}

/// PR to PE: answer to a Deregistration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DeregistrationResponse {
    pub pool_handle: PoolHandle,
    pub pe_id: PeId,
    pub error: Option<OperationError>,
}

/// PU to PR: resolve a pool handle to PEs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HandleResolution {
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
    pub pool_handle: PoolHandle,
    pub policy: Option<Policy>,
    pub pool_elements: Vec<PoolElement>,
    pub error: Option<OperationError>,
}

/// PR to PE: are you alive? `home` is the H flag. RSPLIB adds the PE
/// Identifier (an extension); the RFC message has only the Pool Handle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointKeepAlive {
    pub home: bool,
    pub server_id: ServerId,
    pub pool_handle: PoolHandle,
    pub pe_id: Option<PeId>,
}

/// PE to PR: yes, alive.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointKeepAliveAck {
    pub pool_handle: PoolHandle,
    pub pe_id: PeId,
}

/// PU to PR: this PE did not answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointUnreachable {
    pub pool_handle: PoolHandle,
    pub pe_id: PeId,
}

/// PR announcing itself by multicast. RSPLIB sends only the server ID (the
/// receiver uses the datagram's source); the RFC allows transport
/// parameters of the PR's ASAP endpoint after it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ServerAnnounce {
    pub server_id: ServerId,
    pub transports: Vec<TransportParam>,
}

/// PE to PU over the control channel: state to hand to a failover PE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Cookie {
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::serde_hex"))]
    pub cookie: Vec<u8>,
}

/// PU to a new PE after failover: the last cookie received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CookieEcho {
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::serde_hex"))]
    pub cookie: Vec<u8>,
}

/// PE to PU (or PU to PE): failover candidates. RSPLIB sends the pool policy
/// before the PEs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BusinessCard {
    pub pool_handle: PoolHandle,
    pub policy: Option<Policy>,
    pub pool_elements: Vec<PoolElement>,
}

/// ASAP ERROR: reports an Operation Error (e.g. an unrecognized message).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Error {
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
    Registration(Registration),
    Deregistration(Deregistration),
    RegistrationResponse(RegistrationResponse),
    DeregistrationResponse(DeregistrationResponse),
    HandleResolution(HandleResolution),
    HandleResolutionResponse(HandleResolutionResponse),
    EndpointKeepAlive(EndpointKeepAlive),
    EndpointKeepAliveAck(EndpointKeepAliveAck),
    EndpointUnreachable(EndpointUnreachable),
    ServerAnnounce(ServerAnnounce),
    Cookie(Cookie),
    CookieEcho(CookieEcho),
    BusinessCard(BusinessCard),
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

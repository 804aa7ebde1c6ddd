//! Encoding parameters and messages (byte-exact with RSPLIB), and the
//! public `encode`, `to_bytes` and `encoded_len`.

use std::net::IpAddr;

use super::super::asap::{self, AsapMessage};
use super::super::enrp::{self, EnrpMessage};
use super::super::error::EncodeError;
use super::super::param::{Parameter, param_type as pt};
use super::super::{Message, Protocol};
use super::writer::{W, checked, unchecked_len};

/// Room a new message buffer starts with: most messages (responses,
/// Keep-Alives, Handle Updates) fit, so the encoder does not grow the
/// buffer several times over while writing one.
const MESSAGE_START: usize = 256;

impl Parameter {
    fn write(&self, w: &mut W<'_>) {
        match self {
            Parameter::Ipv4Address(a) => w.address(&IpAddr::V4(*a)),
            Parameter::Ipv6Address(a) => w.address(&IpAddr::V6(*a)),
            Parameter::Transport(t) => w.transport(t),
            Parameter::PoolMemberSelectionPolicy(p) => w.policy(p),
            Parameter::PoolHandle(h) => w.handle(h),
            Parameter::PoolElement(pe) => w.pool_element(pe),
            Parameter::ServerInformation(si) => w.server_info(si),
            Parameter::OperationError(e) => w.operation_error(e),
            Parameter::Cookie(c) => w.tlv_bytes(pt::COOKIE, c),
            Parameter::PeIdentifier(id) => w.pe_id(*id),
            Parameter::PeChecksum(c) => w.tlv_bytes(pt::PE_CHECKSUM, &c.to_be_bytes()),
            Parameter::HandleResolutionOption(n) => {
                w.tlv_bytes(pt::HANDLE_RESOLUTION_OPTION, &n.to_be_bytes())
            }
        }
    }

    /// Appends this parameter's TLV (padded to 4 bytes) to `out`; an error
    /// (and `out` unchanged) if a length field would exceed 65535.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        checked(out, None, |w| self.write(w))
    }

    /// The TLV in a new buffer (see [`Parameter::encode`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::new();
        self.encode(&mut v)?;
        Ok(v)
    }

    /// Length of the encoding in bytes, padded, also when it is too long.
    pub fn encoded_len(&self) -> usize {
        unchecked_len(|w| self.write(w))
    }
}

impl AsapMessage {
    fn write(&self, w: &mut W<'_>) {
        use AsapMessage as M;
        let s = w.begin_msg(self.msg_type(), self.flags());
        match self {
            M::Registration(m) => {
                w.handle(&m.pool_handle);
                w.pool_element(&m.pool_element);
            }
            M::Deregistration(m) => {
                w.handle(&m.pool_handle);
                w.pe_id(m.pe_id);
            }
            M::RegistrationResponse(asap::RegistrationResponse {
                pool_handle,
                pe_id,
                error,
                ..
            })
            | M::DeregistrationResponse(asap::DeregistrationResponse {
                pool_handle,
                pe_id,
                error,
            }) => {
                w.handle(pool_handle);
                w.pe_id(*pe_id);
                if let Some(e) = error {
                    w.operation_error(e);
                }
            }
            M::HandleResolution(m) => {
                w.handle(&m.pool_handle);
                if let Some(n) = m.items {
                    w.tlv_bytes(pt::HANDLE_RESOLUTION_OPTION, &n.to_be_bytes());
                }
            }
            M::HandleResolutionResponse(m) => {
                w.handle(&m.pool_handle);
                if let Some(p) = &m.policy {
                    w.policy(p);
                }
                for pe in &m.pool_elements {
                    w.pool_element(pe);
                }
                if let Some(e) = &m.error {
                    w.operation_error(e);
                }
            }
            M::EndpointKeepAlive(m) => {
                w.put32(m.server_id.0);
                w.handle(&m.pool_handle);
                if let Some(id) = m.pe_id {
                    w.pe_id(id);
                }
            }
            M::EndpointKeepAliveAck(asap::EndpointKeepAliveAck { pool_handle, pe_id })
            | M::EndpointUnreachable(asap::EndpointUnreachable { pool_handle, pe_id }) => {
                w.handle(pool_handle);
                w.pe_id(*pe_id);
            }
            M::ServerAnnounce(m) => {
                w.put32(m.server_id.0);
                for t in &m.transports {
                    w.transport(t);
                }
            }
            M::Cookie(asap::Cookie { cookie }) | M::CookieEcho(asap::CookieEcho { cookie }) => {
                w.tlv_bytes(pt::COOKIE, cookie);
            }
            M::BusinessCard(m) => {
                w.handle(&m.pool_handle);
                if let Some(p) = &m.policy {
                    w.policy(p);
                }
                for pe in &m.pool_elements {
                    w.pool_element(pe);
                }
            }
            M::Error(m) => w.operation_error(&m.error),
        }
        w.finish_msg(s);
    }

    /// Appends the message to `out`, laid out as RSPLIB does. An error (and
    /// `out` unchanged) if the message or one of its parameters would be
    /// longer than its 16-bit length field can say: no length field ever
    /// differs from the bytes written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        checked(out, Some((Protocol::Asap, self.msg_type())), |w| {
            self.write(w)
        })
    }

    /// The message in a new buffer (see [`AsapMessage::encode`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(MESSAGE_START);
        self.encode(&mut v)?;
        Ok(v)
    }

    /// Length of the encoding in bytes, also when it is too long to encode.
    pub fn encoded_len(&self) -> usize {
        unchecked_len(|w| self.write(w))
    }
}

impl EnrpMessage {
    fn write(&self, w: &mut W<'_>) {
        use EnrpMessage as M;
        let s = w.begin_msg(self.msg_type(), self.flags());
        w.put32(self.sender().0);
        w.put32(self.receiver().0);
        match self {
            M::Presence(m) => {
                if let Some(c) = m.checksum {
                    w.tlv_bytes(pt::PE_CHECKSUM, &c.to_be_bytes());
                }
                w.server_info(&m.server_info);
            }
            M::HandleTableRequest(_) | M::ListRequest(_) => {}
            M::HandleTableResponse(m) => {
                for p in &m.pools {
                    w.handle(&p.pool_handle);
                    for pe in &p.pool_elements {
                        w.pool_element(pe);
                    }
                }
            }
            M::HandleUpdate(m) => {
                w.put16(m.action.code());
                w.put16(0);
                w.handle(&m.pool_handle);
                w.pool_element(&m.pool_element);
            }
            M::ListResponse(m) => {
                for si in &m.servers {
                    w.server_info(si);
                }
            }
            M::InitTakeover(enrp::InitTakeover {
                target_server_id, ..
            })
            | M::InitTakeoverAck(enrp::InitTakeoverAck {
                target_server_id, ..
            })
            | M::TakeoverServer(enrp::TakeoverServer {
                target_server_id, ..
            }) => w.put32(target_server_id.0),
            M::Error(m) => w.operation_error(&m.error),
        }
        w.finish_msg(s);
    }

    /// Appends the message to `out`, laid out as RSPLIB does; an error (and
    /// `out` unchanged) if a length field would exceed 65535 (see
    /// [`AsapMessage::encode`]).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        checked(out, Some((Protocol::Enrp, self.msg_type())), |w| {
            self.write(w)
        })
    }

    /// The message in a new buffer (see [`EnrpMessage::encode`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(MESSAGE_START);
        self.encode(&mut v)?;
        Ok(v)
    }

    /// Length of the encoding in bytes, also when it is too long to encode.
    pub fn encoded_len(&self) -> usize {
        unchecked_len(|w| self.write(w))
    }
}

impl Message {
    /// Appends the message to `out` (see [`AsapMessage::encode`]).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Message::Asap(m) => m.encode(out),
            Message::Enrp(m) => m.encode(out),
        }
    }

    /// The message in a new buffer (see [`AsapMessage::encode`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(MESSAGE_START);
        self.encode(&mut v)?;
        Ok(v)
    }

    /// Length of the encoding in bytes, also when it is too long to encode.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::Asap(m) => m.encoded_len(),
            Message::Enrp(m) => m.encoded_len(),
        }
    }
}

//! The encoding buffer: big-endian fields, TLVs with their padding, and
//! the first length that does not fit (so that encoding reports it instead
//! of writing a wrong length field).

use std::net::IpAddr;

use super::super::error::{EncodeError, TooLong};
use super::super::ids::{PeId, PoolHandle};
use super::super::param::{OperationError, PoolElement, ServerInformation, param_type as pt};
use super::super::policy::Policy;
use super::super::transport::TransportParam;
use super::super::{Protocol, transport_param_type};
use super::{be16, pad4};

/// The encoding buffer and the first length that did not fit (innermost
/// first: a TLV is finished before its container). Encoding goes on after
/// an overflow, so that `encoded_len` can tell the full size.
pub(super) struct W<'a> {
    pub(super) out: &'a mut Vec<u8>,
    pub(super) overflow: Option<(TooLong, usize)>,
}

impl W<'_> {
    pub(super) fn put16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn put32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// The length field value of `n` bytes; records the overflow of `what`.
    pub(super) fn len16(&mut self, n: usize, what: TooLong) -> u16 {
        match u16::try_from(n) {
            Ok(v) => v,
            Err(_) => {
                self.overflow.get_or_insert((what, n));
                u16::MAX
            }
        }
    }

    pub(super) fn begin_tlv(&mut self, ty: u16) -> usize {
        let start = self.out.len();
        self.put16(ty);
        self.put16(0);
        start
    }

    /// Writes the TLV's length (padding excluded), then pads to 4 bytes.
    pub(super) fn finish_tlv(&mut self, start: usize) {
        let len = self.out.len() - start;
        let ty = be16(self.out, start);
        let v = self.len16(len, TooLong::Parameter(ty));
        self.out[start + 2..start + 4].copy_from_slice(&v.to_be_bytes());
        self.out.resize(self.out.len() + pad4(len), 0);
    }

    pub(super) fn tlv_bytes(&mut self, ty: u16, value: &[u8]) {
        let s = self.begin_tlv(ty);
        self.out.extend_from_slice(value);
        self.finish_tlv(s);
    }

    pub(super) fn address(&mut self, a: &IpAddr) {
        match a {
            IpAddr::V4(v4) => self.tlv_bytes(pt::IPV4_ADDRESS, &v4.octets()),
            IpAddr::V6(v6) => self.tlv_bytes(pt::IPV6_ADDRESS, &v6.octets()),
        }
    }

    pub(super) fn transport(&mut self, t: &TransportParam) {
        let s = self.begin_tlv(transport_param_type(t.kind()));
        self.put16(t.port());
        match t {
            TransportParam::Sctp { transport_use, .. }
            | TransportParam::Tcp { transport_use, .. } => self.put16(*transport_use as u16),
            TransportParam::Dccp { service_code, .. } => {
                self.put16(0);
                self.put32(*service_code);
            }
            TransportParam::Udp { .. } | TransportParam::UdpLite { .. } => self.put16(0),
        }
        for a in t.addresses() {
            self.address(a);
        }
        self.finish_tlv(s);
    }

    pub(super) fn policy(&mut self, p: &Policy) {
        let s = self.begin_tlv(pt::POOL_MEMBER_SELECTION_POLICY);
        self.put32(p.policy_type().code());
        let (v, n) = p.values();
        for x in &v[..n] {
            self.put32(*x);
        }
        self.finish_tlv(s);
    }

    pub(super) fn pool_element(&mut self, pe: &PoolElement) {
        let s = self.begin_tlv(pt::POOL_ELEMENT);
        self.put32(pe.pe_id.0);
        self.put32(pe.home_server_id.0);
        self.put32(pe.registration_life as u32);
        self.transport(&pe.user_transport);
        self.policy(&pe.policy);
        if let Some(t) = &pe.asap_transport {
            self.transport(t);
        }
        self.finish_tlv(s);
    }

    pub(super) fn server_info(&mut self, si: &ServerInformation) {
        let s = self.begin_tlv(pt::SERVER_INFORMATION);
        self.put32(si.server_id.0);
        self.transport(&si.transport);
        self.finish_tlv(s);
    }

    /// Causes are padded between each other; the last one's padding is the
    /// parameter's (as RSPLIB writes its single cause).
    pub(super) fn operation_error(&mut self, e: &OperationError) {
        let s = self.begin_tlv(pt::OPERATION_ERROR);
        for (i, c) in e.causes.iter().enumerate() {
            if i > 0 {
                let l = self.out.len() - s;
                self.out.resize(self.out.len() + pad4(l), 0);
            }
            self.put16(c.code.code());
            let v = self.len16(4 + c.info.len(), TooLong::Cause(c.code));
            self.put16(v);
            self.out.extend_from_slice(&c.info);
        }
        self.finish_tlv(s);
    }

    pub(super) fn pe_id(&mut self, id: PeId) {
        self.tlv_bytes(pt::PE_IDENTIFIER, &id.0.to_be_bytes());
    }

    pub(super) fn handle(&mut self, h: &PoolHandle) {
        self.tlv_bytes(pt::POOL_HANDLE, &h.0);
    }

    pub(super) fn begin_msg(&mut self, ty: u8, flags: u8) -> usize {
        let s = self.out.len();
        self.out.push(ty);
        self.out.push(flags);
        self.put16(0);
        s
    }

    /// Message length = everything written, which includes the last
    /// parameter's padding (RSPLIB's choice).
    pub(super) fn finish_msg(&mut self, start: usize) {
        let len = self.out.len() - start;
        let v = self.len16(len, TooLong::Message);
        self.out[start + 2..start + 4].copy_from_slice(&v.to_be_bytes());
        self.out.resize(self.out.len() + pad4(len), 0);
    }
}

/// Runs `f` on `out`; on an overflow, `out` is restored to what it was.
pub(super) fn checked(
    out: &mut Vec<u8>,
    message: Option<(Protocol, u8)>,
    f: impl FnOnce(&mut W<'_>),
) -> Result<(), EncodeError> {
    let start = out.len();
    let mut w = W {
        out,
        overflow: None,
    };
    f(&mut w);
    match w.overflow {
        None => Ok(()),
        Some((what, length)) => {
            out.truncate(start);
            Err(EncodeError {
                message,
                what,
                length,
            })
        }
    }
}

/// Bytes `f` writes, overflowing or not.
pub(super) fn unchecked_len(f: impl FnOnce(&mut W<'_>)) -> usize {
    let mut out = Vec::new();
    let mut w = W {
        out: &mut out,
        overflow: None,
    };
    f(&mut w);
    out.len()
}

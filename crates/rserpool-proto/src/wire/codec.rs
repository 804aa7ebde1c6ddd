//! The codec: a strict, total decoder and an RSPLIB-exact encoder.
//!
//! Decoding never indexes out of bounds, never recurses deeper than
//! `max_depth` and never allocates more than the input length implies:
//! every vector element is backed by at least 4 input bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::asap::{self, AsapMessage};
use super::enrp::{self, EnrpMessage, PoolEntries, UpdateAction};
use super::error::{DecodeError, EncodeError, Location, TooLong};
use super::ids::{PeId, PoolHandle, ServerId};
use super::param::{
    ErrorCause, ErrorCauseCode, OperationError, Parameter, PoolElement, RawParameter,
    ServerInformation, UnknownAction, param_type as pt,
};
use super::policy::{Policy, PolicyType};
use super::transport::{AddressList, TransportParam, TransportUse};
use super::{
    CauseInfo, CauseInfoKind, DecodeOptions, Decoded, HEADER_LEN, Message, Protocol,
    transport_param_type,
};

// ====================================================================
// Decoding
// ====================================================================

fn is_known_param(t: u16) -> bool {
    matches!(t, 0x0001..=0x000f | pt::HANDLE_RESOLUTION_OPTION)
}

fn is_transport(t: u16) -> bool {
    matches!(
        t,
        pt::DCCP_TRANSPORT
            | pt::SCTP_TRANSPORT
            | pt::TCP_TRANSPORT
            | pt::UDP_TRANSPORT
            | pt::UDP_LITE_TRANSPORT
    )
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

/// Decoding state of one message.
struct Ctx<'a> {
    buf: &'a [u8],
    protocol: Protocol,
    msg_type: Option<u8>,
    opts: &'a DecodeOptions,
    params: usize,
    report: Vec<RawParameter>,
}

/// A parameter TLV found in the buffer.
#[derive(Clone, Copy, Debug)]
struct Tlv {
    ty: u16,
    /// Offset of the TLV header.
    offset: usize,
    /// Declared length (header included, padding excluded).
    len: usize,
    depth: usize,
}

impl Tlv {
    fn value_start(&self) -> usize {
        self.offset + 4
    }
    fn value_end(&self) -> usize {
        self.offset + self.len
    }
    fn value_len(&self) -> usize {
        self.len - 4
    }
}

/// A sequence of TLVs (parameters, or error causes) inside a container.
#[derive(Clone, Copy, Debug)]
struct Seq {
    pos: usize,
    end: usize,
    /// Depth of the TLVs in this sequence.
    depth: usize,
    /// Type of the containing parameter, for error locations.
    parent: Option<u16>,
}

impl<'a> Ctx<'a> {
    fn new(buf: &'a [u8], protocol: Protocol, opts: &'a DecodeOptions) -> Ctx<'a> {
        Ctx {
            buf,
            protocol,
            msg_type: None,
            opts,
            params: 0,
            report: Vec::new(),
        }
    }

    fn at(&self, param_type: Option<u16>, offset: usize) -> Location {
        Location {
            protocol: self.protocol,
            msg_type: self.msg_type,
            param_type,
            offset,
        }
    }

    fn at_tlv(&self, t: &Tlv, offset: usize) -> Location {
        self.at(Some(t.ty), offset)
    }

    /// Reads the next raw TLV header of `seq` (type and length checked,
    /// padding checked and skipped). `cause` selects error-cause TLVs,
    /// which do not count as nesting depth.
    fn next_raw(&mut self, seq: &mut Seq, cause: bool) -> Result<Option<Tlv>, DecodeError> {
        if seq.pos >= seq.end {
            return Ok(None);
        }
        let start = seq.pos;
        let available = seq.end - start;
        if available < 4 {
            return Err(DecodeError::Truncated {
                at: self.at(seq.parent, start),
                needed: 4,
                available,
            });
        }
        let ty = be16(self.buf, start);
        let len = usize::from(be16(self.buf, start + 2));
        let loc_ty = if cause { seq.parent } else { Some(ty) };
        if len < 4 || len > available {
            return Err(DecodeError::BadParameterLength {
                at: self.at(loc_ty, start),
                length: len,
                available,
            });
        }
        if !cause && seq.depth > self.opts.max_depth {
            return Err(DecodeError::TooDeep {
                at: self.at(loc_ty, start),
                max_depth: self.opts.max_depth,
            });
        }
        self.params += 1;
        if self.params > self.opts.max_parameters {
            return Err(DecodeError::TooManyParameters {
                at: self.at(loc_ty, start),
                max: self.opts.max_parameters,
            });
        }
        let end = start + len;
        let pad = pad4(len);
        let rest = seq.end - end;
        if pad == 0 || rest == 0 {
            // Aligned, or the last one without its padding.
            seq.pos = end;
        } else if rest < pad {
            return Err(DecodeError::BadPadding {
                at: self.at(loc_ty, end),
            });
        } else {
            if self.buf[end..end + pad].iter().any(|b| *b != 0) {
                return Err(DecodeError::BadPadding {
                    at: self.at(loc_ty, end),
                });
            }
            seq.pos = end + pad;
        }
        Ok(Some(Tlv {
            ty,
            offset: start,
            len,
            depth: seq.depth,
        }))
    }

    /// The next known parameter of `seq`; unknown ones are handled by their
    /// action bits (skipped, recorded for the report, or the message is
    /// rejected).
    fn next(&mut self, seq: &mut Seq) -> Result<Option<Tlv>, DecodeError> {
        loop {
            let Some(t) = self.next_raw(seq, false)? else {
                return Ok(None);
            };
            if is_known_param(t.ty) {
                return Ok(Some(t));
            }
            let raw = || RawParameter {
                offset: t.offset,
                tlv: self.buf[t.offset..t.value_end()].to_vec(),
            };
            let action = UnknownAction::of_type(t.ty);
            match action {
                UnknownAction::Skip => {}
                UnknownAction::SkipReport => {
                    let r = raw();
                    self.report.push(r);
                }
                UnknownAction::StopDiscard => {
                    return Err(DecodeError::UnrecognizedParameter {
                        at: self.at(Some(t.ty), t.offset),
                        action,
                        report: Vec::new(),
                    });
                }
                UnknownAction::StopReport => {
                    let r = raw();
                    let mut report = std::mem::take(&mut self.report);
                    report.push(r);
                    return Err(DecodeError::UnrecognizedParameter {
                        at: self.at(Some(t.ty), t.offset),
                        action,
                        report,
                    });
                }
            }
        }
    }

    /// Looks at the next known parameter without consuming it.
    fn peek(&mut self, seq: &mut Seq) -> Result<Option<Tlv>, DecodeError> {
        // Unknown parameters before it are consumed (and reported) here, so
        // reading it again afterwards does not report them twice.
        let found = self.next(seq)?;
        if let Some(t) = found {
            seq.pos = t.offset;
            // Undo the count of this one TLV; it is counted when taken.
            self.params -= 1;
        }
        Ok(found)
    }

    fn expect(&mut self, seq: &mut Seq, ty: u16) -> Result<Tlv, DecodeError> {
        match self.next(seq)? {
            Some(t) if t.ty == ty => Ok(t),
            Some(t) => Err(DecodeError::UnexpectedParameter {
                at: self.at(Some(t.ty), t.offset),
            }),
            None => Err(DecodeError::MissingParameter {
                at: self.at(seq.parent, seq.pos),
                expected: ty,
            }),
        }
    }

    fn optional(&mut self, seq: &mut Seq, ty: u16) -> Result<Option<Tlv>, DecodeError> {
        match self.peek(seq)? {
            Some(t) if t.ty == ty => self.next(seq),
            _ => Ok(None),
        }
    }

    fn finish(&mut self, seq: &mut Seq) -> Result<(), DecodeError> {
        match self.next(seq)? {
            None => Ok(()),
            Some(t) => Err(DecodeError::UnexpectedParameter {
                at: self.at(Some(t.ty), t.offset),
            }),
        }
    }

    /// The parameters inside `t`'s value after `fixed` bytes of fixed fields.
    fn inner(&self, t: &Tlv, fixed: usize) -> Result<Seq, DecodeError> {
        if t.value_len() < fixed {
            return Err(DecodeError::BadValueLength {
                at: self.at_tlv(t, t.offset),
                length: t.value_len(),
                expected: fixed,
            });
        }
        Ok(Seq {
            pos: t.value_start() + fixed,
            end: t.value_end(),
            depth: t.depth + 1,
            parent: Some(t.ty),
        })
    }

    fn exact_len(&self, t: &Tlv, expected: usize) -> Result<(), DecodeError> {
        if t.value_len() != expected {
            return Err(DecodeError::BadValueLength {
                at: self.at_tlv(t, t.offset),
                length: t.value_len(),
                expected,
            });
        }
        Ok(())
    }

    fn value(&self, t: &Tlv) -> &'a [u8] {
        &self.buf[t.value_start()..t.value_end()]
    }

    // ---------------------------------------------------------------- params

    fn address(&mut self, t: &Tlv) -> Result<IpAddr, DecodeError> {
        let v = self.value(t);
        match t.ty {
            pt::IPV4_ADDRESS => {
                self.exact_len(t, 4)?;
                Ok(IpAddr::V4(Ipv4Addr::from(be32(v, 0))))
            }
            pt::IPV6_ADDRESS => {
                self.exact_len(t, 16)?;
                let mut a = [0u8; 16];
                a.copy_from_slice(v);
                Ok(IpAddr::V6(Ipv6Addr::from(a)))
            }
            _ => Err(DecodeError::UnexpectedParameter {
                at: self.at_tlv(t, t.offset),
            }),
        }
    }

    fn next_address(&mut self, seq: &mut Seq) -> Result<Option<IpAddr>, DecodeError> {
        match self.next(seq)? {
            None => Ok(None),
            Some(a) => self.address(&a).map(Some),
        }
    }

    fn one_address(&mut self, seq: &mut Seq) -> Result<IpAddr, DecodeError> {
        let Some(a) = self.next_address(seq)? else {
            return Err(DecodeError::MissingParameter {
                at: self.at(seq.parent, seq.pos),
                expected: pt::IPV4_ADDRESS,
            });
        };
        self.finish(seq)?;
        Ok(a)
    }

    fn transport_use(&self, t: &Tlv, code: u16) -> Result<TransportUse, DecodeError> {
        TransportUse::from_code(code).ok_or(DecodeError::InvalidValue {
            at: self.at_tlv(t, t.value_start() + 2),
            field: "transport use",
            value: u32::from(code),
        })
    }

    fn transport(&mut self, t: &Tlv) -> Result<TransportParam, DecodeError> {
        let v = self.value(t);
        let fixed = if t.ty == pt::DCCP_TRANSPORT { 8 } else { 4 };
        let mut seq = self.inner(t, fixed)?;
        let port = be16(v, 0);
        let word = be16(v, 2);
        Ok(match t.ty {
            pt::SCTP_TRANSPORT => {
                let transport_use = self.transport_use(t, word)?;
                let mut addresses = AddressList::new();
                while let Some(a) = self.next_address(&mut seq)? {
                    addresses.push(a);
                }
                if addresses.is_empty() {
                    return Err(DecodeError::MissingParameter {
                        at: self.at(Some(t.ty), seq.pos),
                        expected: pt::IPV4_ADDRESS,
                    });
                }
                TransportParam::Sctp {
                    port,
                    transport_use,
                    addresses,
                }
            }
            pt::TCP_TRANSPORT => {
                let transport_use = self.transport_use(t, word)?;
                TransportParam::Tcp {
                    port,
                    transport_use,
                    address: self.one_address(&mut seq)?,
                }
            }
            pt::UDP_TRANSPORT => TransportParam::Udp {
                port,
                address: self.one_address(&mut seq)?,
            },
            pt::UDP_LITE_TRANSPORT => TransportParam::UdpLite {
                port,
                address: self.one_address(&mut seq)?,
            },
            pt::DCCP_TRANSPORT => TransportParam::Dccp {
                port,
                service_code: be32(v, 4),
                address: self.one_address(&mut seq)?,
            },
            _ => {
                return Err(DecodeError::UnexpectedParameter {
                    at: self.at_tlv(t, t.offset),
                });
            }
        })
    }

    fn expect_transport(&mut self, seq: &mut Seq) -> Result<TransportParam, DecodeError> {
        match self.next(seq)? {
            Some(t) if is_transport(t.ty) => self.transport(&t),
            Some(t) => Err(DecodeError::UnexpectedParameter {
                at: self.at(Some(t.ty), t.offset),
            }),
            None => Err(DecodeError::MissingParameter {
                at: self.at(seq.parent, seq.pos),
                expected: pt::SCTP_TRANSPORT,
            }),
        }
    }

    fn optional_transport(&mut self, seq: &mut Seq) -> Result<Option<TransportParam>, DecodeError> {
        match self.peek(seq)? {
            Some(t) if is_transport(t.ty) => {
                self.next(seq)?;
                self.transport(&t).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn policy(&mut self, t: &Tlv) -> Result<Policy, DecodeError> {
        let v = self.value(t);
        if v.len() < 4 {
            return Err(DecodeError::BadValueLength {
                at: self.at_tlv(t, t.offset),
                length: v.len(),
                expected: 4,
            });
        }
        let code = be32(v, 0);
        let Some(ptype) = PolicyType::from_code(code) else {
            return Err(DecodeError::InvalidValue {
                at: self.at_tlv(t, t.value_start()),
                field: "policy type",
                value: code,
            });
        };
        let n = Policy::value_count(ptype);
        self.exact_len(t, 4 + 4 * n)?;
        let mut vals = [0u32; 4];
        for (i, x) in vals.iter_mut().enumerate().take(n) {
            *x = be32(v, 4 + 4 * i);
        }
        Policy::from_values(ptype, &vals[..n]).ok_or(DecodeError::BadValueLength {
            at: self.at_tlv(t, t.offset),
            length: v.len(),
            expected: 4 + 4 * n,
        })
    }

    fn pool_handle(&self, t: &Tlv) -> PoolHandle {
        PoolHandle(self.value(t).to_vec())
    }

    fn pe_id(&self, t: &Tlv) -> Result<PeId, DecodeError> {
        self.exact_len(t, 4)?;
        Ok(PeId(be32(self.value(t), 0)))
    }

    fn pool_element(&mut self, t: &Tlv) -> Result<PoolElement, DecodeError> {
        let v = self.value(t);
        let mut seq = self.inner(t, 12)?;
        let pe_id = PeId(be32(v, 0));
        let home_server_id = ServerId(be32(v, 4));
        let registration_life = be32(v, 8) as i32;
        let user_transport = self.expect_transport(&mut seq)?;
        let pt_tlv = self.expect(&mut seq, pt::POOL_MEMBER_SELECTION_POLICY)?;
        let policy = self.policy(&pt_tlv)?;
        let asap_transport = self.optional_transport(&mut seq)?;
        self.finish(&mut seq)?;
        Ok(PoolElement {
            pe_id,
            home_server_id,
            registration_life,
            user_transport,
            policy,
            asap_transport,
        })
    }

    fn server_information(&mut self, t: &Tlv) -> Result<ServerInformation, DecodeError> {
        let v = self.value(t);
        let mut seq = self.inner(t, 4)?;
        let server_id = ServerId(be32(v, 0));
        let transport = match self.next(&mut seq)? {
            Some(x) if x.ty == pt::SCTP_TRANSPORT || x.ty == pt::TCP_TRANSPORT => {
                self.transport(&x)?
            }
            Some(x) => {
                return Err(DecodeError::UnexpectedParameter {
                    at: self.at(Some(x.ty), x.offset),
                });
            }
            None => {
                return Err(DecodeError::MissingParameter {
                    at: self.at(Some(t.ty), seq.pos),
                    expected: pt::SCTP_TRANSPORT,
                });
            }
        };
        self.finish(&mut seq)?;
        Ok(ServerInformation {
            server_id,
            transport,
        })
    }

    fn operation_error(&mut self, t: &Tlv) -> Result<OperationError, DecodeError> {
        let mut seq = self.inner(t, 0)?;
        let mut causes = Vec::new();
        while let Some(c) = self.next_raw(&mut seq, true)? {
            causes.push(ErrorCause {
                code: ErrorCauseCode::from_code(c.ty),
                info: self.value(&c).to_vec(),
            });
        }
        if causes.is_empty() {
            return Err(DecodeError::BadValueLength {
                at: self.at_tlv(t, t.offset),
                length: 0,
                expected: 4,
            });
        }
        Ok(OperationError { causes })
    }

    fn checksum(&self, t: &Tlv) -> Result<u16, DecodeError> {
        self.exact_len(t, 2)?;
        Ok(be16(self.value(t), 0))
    }

    fn any_param(&mut self, t: &Tlv) -> Result<Parameter, DecodeError> {
        Ok(match t.ty {
            pt::IPV4_ADDRESS | pt::IPV6_ADDRESS => match self.address(t)? {
                IpAddr::V4(a) => Parameter::Ipv4Address(a),
                IpAddr::V6(a) => Parameter::Ipv6Address(a),
            },
            x if is_transport(x) => Parameter::Transport(self.transport(t)?),
            pt::POOL_MEMBER_SELECTION_POLICY => {
                Parameter::PoolMemberSelectionPolicy(self.policy(t)?)
            }
            pt::POOL_HANDLE => Parameter::PoolHandle(self.pool_handle(t)),
            pt::POOL_ELEMENT => Parameter::PoolElement(self.pool_element(t)?),
            pt::SERVER_INFORMATION => Parameter::ServerInformation(self.server_information(t)?),
            pt::OPERATION_ERROR => Parameter::OperationError(self.operation_error(t)?),
            pt::COOKIE => Parameter::Cookie(self.value(t).to_vec()),
            pt::PE_IDENTIFIER => Parameter::PeIdentifier(self.pe_id(t)?),
            pt::PE_CHECKSUM => Parameter::PeChecksum(self.checksum(t)?),
            pt::HANDLE_RESOLUTION_OPTION => {
                self.exact_len(t, 4)?;
                Parameter::HandleResolutionOption(be32(self.value(t), 0))
            }
            _ => {
                return Err(DecodeError::UnexpectedParameter {
                    at: self.at_tlv(t, t.offset),
                });
            }
        })
    }

    // -------------------------------------------------------------- messages

    /// Reads and checks the header; returns (type, flags, sequence of the
    /// body after `fixed` bytes of fixed fields).
    fn header(&mut self) -> Result<(u8, u8), DecodeError> {
        let buf = self.buf;
        if buf.len() > self.opts.max_message_size {
            return Err(DecodeError::MessageTooLarge {
                at: self.at(None, 0),
                length: buf.len(),
                max: self.opts.max_message_size,
            });
        }
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                at: self.at(None, 0),
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        let ty = buf[0];
        let flags = buf[1];
        self.msg_type = Some(ty);
        let declared = usize::from(be16(buf, 2));
        if declared > self.opts.max_message_size {
            return Err(DecodeError::MessageTooLarge {
                at: self.at(None, 2),
                length: declared,
                max: self.opts.max_message_size,
            });
        }
        // The length may leave out the last parameter's padding while the
        // transport still carries it; anything else must match exactly.
        let padded_ok = buf.len() == declared + pad4(declared)
            && buf[declared.min(buf.len())..].iter().all(|b| *b == 0);
        if declared < HEADER_LEN || (buf.len() != declared && !padded_ok) {
            return Err(DecodeError::BadMessageLength {
                at: self.at(None, 2),
                declared,
                actual: buf.len(),
            });
        }
        if self.protocol.msg_type_name(ty).is_none() {
            return Err(DecodeError::UnknownMessageType {
                at: self.at(None, 0),
                msg_type: ty,
            });
        }
        Ok((ty, flags))
    }

    fn declared_len(&self) -> usize {
        usize::from(be16(self.buf, 2))
    }

    /// Fixed fields after the header: checks that `n` bytes are there and
    /// returns the parameter sequence that follows them.
    fn fixed(&self, n: usize) -> Result<Seq, DecodeError> {
        let end = self.declared_len();
        if end < HEADER_LEN + n {
            return Err(DecodeError::Truncated {
                at: self.at(None, HEADER_LEN),
                needed: n,
                available: end.saturating_sub(HEADER_LEN),
            });
        }
        Ok(Seq {
            pos: HEADER_LEN + n,
            end,
            depth: 1,
            parent: None,
        })
    }

    fn body_u32(&self, at: usize) -> u32 {
        be32(self.buf, at)
    }

    fn handle(&mut self, seq: &mut Seq) -> Result<PoolHandle, DecodeError> {
        let t = self.expect(seq, pt::POOL_HANDLE)?;
        Ok(self.pool_handle(&t))
    }

    fn pe_id_param(&mut self, seq: &mut Seq) -> Result<PeId, DecodeError> {
        let t = self.expect(seq, pt::PE_IDENTIFIER)?;
        self.pe_id(&t)
    }

    fn optional_error(&mut self, seq: &mut Seq) -> Result<Option<OperationError>, DecodeError> {
        match self.optional(seq, pt::OPERATION_ERROR)? {
            Some(t) => self.operation_error(&t).map(Some),
            None => Ok(None),
        }
    }

    fn optional_policy(&mut self, seq: &mut Seq) -> Result<Option<Policy>, DecodeError> {
        match self.optional(seq, pt::POOL_MEMBER_SELECTION_POLICY)? {
            Some(t) => self.policy(&t).map(Some),
            None => Ok(None),
        }
    }

    fn pool_elements(&mut self, seq: &mut Seq) -> Result<Vec<PoolElement>, DecodeError> {
        let mut v = Vec::new();
        while let Some(t) = self.optional(seq, pt::POOL_ELEMENT)? {
            v.push(self.pool_element(&t)?);
        }
        Ok(v)
    }

    fn asap(&mut self) -> Result<AsapMessage, DecodeError> {
        use asap::msg_type as t;
        let (ty, flags) = self.header()?;
        let m = match ty {
            t::REGISTRATION => {
                let mut s = self.fixed(0)?;
                let pool_handle = self.handle(&mut s)?;
                let pe = self.expect(&mut s, pt::POOL_ELEMENT)?;
                let pool_element = self.pool_element(&pe)?;
                self.finish(&mut s)?;
                AsapMessage::Registration(asap::Registration {
                    pool_handle,
                    pool_element,
                })
            }
            t::DEREGISTRATION | t::ENDPOINT_KEEP_ALIVE_ACK | t::ENDPOINT_UNREACHABLE => {
                let mut s = self.fixed(0)?;
                let pool_handle = self.handle(&mut s)?;
                let pe_id = self.pe_id_param(&mut s)?;
                self.finish(&mut s)?;
                match ty {
                    t::DEREGISTRATION => {
                        AsapMessage::Deregistration(asap::Deregistration { pool_handle, pe_id })
                    }
                    t::ENDPOINT_KEEP_ALIVE_ACK => {
                        AsapMessage::EndpointKeepAliveAck(asap::EndpointKeepAliveAck {
                            pool_handle,
                            pe_id,
                        })
                    }
                    _ => AsapMessage::EndpointUnreachable(asap::EndpointUnreachable {
                        pool_handle,
                        pe_id,
                    }),
                }
            }
            t::REGISTRATION_RESPONSE | t::DEREGISTRATION_RESPONSE => {
                let mut s = self.fixed(0)?;
                let pool_handle = self.handle(&mut s)?;
                let pe_id = self.pe_id_param(&mut s)?;
                let error = self.optional_error(&mut s)?;
                self.finish(&mut s)?;
                if ty == t::REGISTRATION_RESPONSE {
                    AsapMessage::RegistrationResponse(asap::RegistrationResponse {
                        reject: flags & asap::flags::REJECT != 0,
                        pool_handle,
                        pe_id,
                        error,
                    })
                } else {
                    AsapMessage::DeregistrationResponse(asap::DeregistrationResponse {
                        pool_handle,
                        pe_id,
                        error,
                    })
                }
            }
            t::HANDLE_RESOLUTION => {
                let mut s = self.fixed(0)?;
                let pool_handle = self.handle(&mut s)?;
                let items = match self.optional(&mut s, pt::HANDLE_RESOLUTION_OPTION)? {
                    Some(o) => {
                        self.exact_len(&o, 4)?;
                        Some(be32(self.value(&o), 0))
                    }
                    None => None,
                };
                self.finish(&mut s)?;
                AsapMessage::HandleResolution(asap::HandleResolution { pool_handle, items })
            }
            t::HANDLE_RESOLUTION_RESPONSE => {
                let mut s = self.fixed(0)?;
                let pool_handle = self.handle(&mut s)?;
                let policy = self.optional_policy(&mut s)?;
                let pool_elements = self.pool_elements(&mut s)?;
                let error = self.optional_error(&mut s)?;
                self.finish(&mut s)?;
                AsapMessage::HandleResolutionResponse(asap::HandleResolutionResponse {
                    pool_handle,
                    policy,
                    pool_elements,
                    error,
                })
            }
            t::ENDPOINT_KEEP_ALIVE => {
                let mut s = self.fixed(4)?;
                let server_id = ServerId(self.body_u32(4));
                let pool_handle = self.handle(&mut s)?;
                let pe_id = match self.optional(&mut s, pt::PE_IDENTIFIER)? {
                    Some(x) => Some(self.pe_id(&x)?),
                    None => None,
                };
                self.finish(&mut s)?;
                AsapMessage::EndpointKeepAlive(asap::EndpointKeepAlive {
                    home: flags & asap::flags::HOME != 0,
                    server_id,
                    pool_handle,
                    pe_id,
                })
            }
            t::SERVER_ANNOUNCE => {
                let mut s = self.fixed(4)?;
                let server_id = ServerId(self.body_u32(4));
                let mut transports = Vec::new();
                while let Some(tp) = self.optional_transport(&mut s)? {
                    transports.push(tp);
                }
                self.finish(&mut s)?;
                AsapMessage::ServerAnnounce(asap::ServerAnnounce {
                    server_id,
                    transports,
                })
            }
            t::COOKIE | t::COOKIE_ECHO => {
                let mut s = self.fixed(0)?;
                let c = self.expect(&mut s, pt::COOKIE)?;
                let cookie = self.value(&c).to_vec();
                self.finish(&mut s)?;
                if ty == t::COOKIE {
                    AsapMessage::Cookie(asap::Cookie { cookie })
                } else {
                    AsapMessage::CookieEcho(asap::CookieEcho { cookie })
                }
            }
            t::BUSINESS_CARD => {
                let mut s = self.fixed(0)?;
                let pool_handle = self.handle(&mut s)?;
                let policy = self.optional_policy(&mut s)?;
                let pool_elements = self.pool_elements(&mut s)?;
                self.finish(&mut s)?;
                AsapMessage::BusinessCard(asap::BusinessCard {
                    pool_handle,
                    policy,
                    pool_elements,
                })
            }
            _ => {
                // t::ERROR; header() rejected unknown types.
                let mut s = self.fixed(0)?;
                let e = self.expect(&mut s, pt::OPERATION_ERROR)?;
                let error = self.operation_error(&e)?;
                self.finish(&mut s)?;
                AsapMessage::Error(asap::Error { error })
            }
        };
        Ok(m)
    }

    fn enrp(&mut self) -> Result<EnrpMessage, DecodeError> {
        use enrp::msg_type as t;
        let (ty, flags) = self.header()?;
        let fixed = match ty {
            t::HANDLE_UPDATE | t::INIT_TAKEOVER | t::INIT_TAKEOVER_ACK | t::TAKEOVER_SERVER => 12,
            _ => 8,
        };
        let mut s = self.fixed(fixed)?;
        let sender = ServerId(self.body_u32(4));
        let receiver = ServerId(self.body_u32(8));
        let m = match ty {
            t::PRESENCE => {
                let checksum = match self.optional(&mut s, pt::PE_CHECKSUM)? {
                    Some(c) => Some(self.checksum(&c)?),
                    None => None,
                };
                let si = self.expect(&mut s, pt::SERVER_INFORMATION)?;
                let server_info = self.server_information(&si)?;
                EnrpMessage::Presence(enrp::Presence {
                    reply_required: flags & enrp::flags::REPLY_REQUIRED != 0,
                    sender,
                    receiver,
                    checksum,
                    server_info,
                })
            }
            t::HANDLE_TABLE_REQUEST => EnrpMessage::HandleTableRequest(enrp::HandleTableRequest {
                own_children_only: flags & enrp::flags::OWN_CHILDREN_ONLY != 0,
                sender,
                receiver,
            }),
            t::HANDLE_TABLE_RESPONSE => {
                let mut pools = Vec::new();
                while let Some(h) = self.optional(&mut s, pt::POOL_HANDLE)? {
                    let pool_handle = self.pool_handle(&h);
                    let pool_elements = self.pool_elements(&mut s)?;
                    if pool_elements.is_empty() {
                        return Err(DecodeError::MissingParameter {
                            at: self.at(None, s.pos),
                            expected: pt::POOL_ELEMENT,
                        });
                    }
                    pools.push(PoolEntries {
                        pool_handle,
                        pool_elements,
                    });
                }
                EnrpMessage::HandleTableResponse(enrp::HandleTableResponse {
                    reject: flags & enrp::flags::REJECT != 0,
                    more_to_send: flags & enrp::flags::MORE_TO_SEND != 0,
                    sender,
                    receiver,
                    pools,
                })
            }
            t::HANDLE_UPDATE => {
                let code = be16(self.buf, 12);
                let Some(action) = UpdateAction::from_code(code) else {
                    return Err(DecodeError::InvalidValue {
                        at: self.at(None, 12),
                        field: "update action",
                        value: u32::from(code),
                    });
                };
                let pool_handle = self.handle(&mut s)?;
                let pe = self.expect(&mut s, pt::POOL_ELEMENT)?;
                let pool_element = self.pool_element(&pe)?;
                EnrpMessage::HandleUpdate(enrp::HandleUpdate {
                    takeover_suggested: flags & enrp::flags::TAKEOVER_SUGGESTED != 0,
                    sender,
                    receiver,
                    action,
                    pool_handle,
                    pool_element,
                })
            }
            t::LIST_REQUEST => EnrpMessage::ListRequest(enrp::ListRequest { sender, receiver }),
            t::LIST_RESPONSE => {
                let mut servers = Vec::new();
                while let Some(si) = self.optional(&mut s, pt::SERVER_INFORMATION)? {
                    servers.push(self.server_information(&si)?);
                }
                EnrpMessage::ListResponse(enrp::ListResponse {
                    reject: flags & enrp::flags::REJECT != 0,
                    sender,
                    receiver,
                    servers,
                })
            }
            t::INIT_TAKEOVER | t::INIT_TAKEOVER_ACK | t::TAKEOVER_SERVER => {
                let target_server_id = ServerId(self.body_u32(12));
                match ty {
                    t::INIT_TAKEOVER => EnrpMessage::InitTakeover(enrp::InitTakeover {
                        sender,
                        receiver,
                        target_server_id,
                    }),
                    t::INIT_TAKEOVER_ACK => EnrpMessage::InitTakeoverAck(enrp::InitTakeoverAck {
                        sender,
                        receiver,
                        target_server_id,
                    }),
                    _ => EnrpMessage::TakeoverServer(enrp::TakeoverServer {
                        sender,
                        receiver,
                        target_server_id,
                    }),
                }
            }
            _ => {
                // t::ERROR; header() rejected unknown types.
                let e = self.expect(&mut s, pt::OPERATION_ERROR)?;
                let error = self.operation_error(&e)?;
                EnrpMessage::Error(enrp::Error {
                    sender,
                    receiver,
                    error,
                })
            }
        };
        self.finish(&mut s)?;
        Ok(m)
    }

    fn single_param(&mut self, depth: usize) -> Result<Parameter, DecodeError> {
        let mut s = Seq {
            pos: 0,
            end: self.buf.len(),
            depth,
            parent: None,
        };
        let Some(t) = self.next(&mut s)? else {
            return Err(DecodeError::Truncated {
                at: self.at(None, 0),
                needed: 4,
                available: 0,
            });
        };
        let p = self.any_param(&t)?;
        self.finish(&mut s)?;
        Ok(p)
    }
}

fn check_size(protocol: Protocol, bytes: &[u8], opts: &DecodeOptions) -> Result<(), DecodeError> {
    if bytes.len() > opts.max_message_size {
        return Err(DecodeError::MessageTooLarge {
            at: Location::new(protocol, 0),
            length: bytes.len(),
            max: opts.max_message_size,
        });
    }
    Ok(())
}

impl AsapMessage {
    /// Decodes one ASAP message (exactly `bytes`; trailing padding up to a
    /// multiple of 4 allowed when the length field leaves it out).
    pub fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Decoded<AsapMessage>, DecodeError> {
        let mut ctx = Ctx::new(bytes, Protocol::Asap, opts);
        let message = ctx.asap()?;
        Ok(Decoded {
            message,
            unrecognized: ctx.report,
        })
    }
}

impl EnrpMessage {
    /// Decodes one ENRP message (exactly `bytes`; trailing padding up to a
    /// multiple of 4 allowed when the length field leaves it out).
    pub fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Decoded<EnrpMessage>, DecodeError> {
        let mut ctx = Ctx::new(bytes, Protocol::Enrp, opts);
        let message = ctx.enrp()?;
        Ok(Decoded {
            message,
            unrecognized: ctx.report,
        })
    }
}

impl Message {
    /// Decodes one message of `protocol` (told by the SCTP PPID or the port).
    pub fn decode(
        protocol: Protocol,
        bytes: &[u8],
        opts: &DecodeOptions,
    ) -> Result<Decoded<Message>, DecodeError> {
        match protocol {
            Protocol::Asap => AsapMessage::decode(bytes, opts).map(|d| Decoded {
                message: Message::Asap(d.message),
                unrecognized: d.unrecognized,
            }),
            Protocol::Enrp => EnrpMessage::decode(bytes, opts).map(|d| Decoded {
                message: Message::Enrp(d.message),
                unrecognized: d.unrecognized,
            }),
        }
    }
}

impl Parameter {
    /// Decodes one parameter TLV (padding after it allowed). `protocol`
    /// only labels error locations. Nested parameters count from depth 1.
    pub fn decode(
        bytes: &[u8],
        protocol: Protocol,
        opts: &DecodeOptions,
    ) -> Result<Decoded<Parameter>, DecodeError> {
        Parameter::decode_at_depth(bytes, protocol, opts, 1)
    }

    fn decode_at_depth(
        bytes: &[u8],
        protocol: Protocol,
        opts: &DecodeOptions,
        depth: usize,
    ) -> Result<Decoded<Parameter>, DecodeError> {
        check_size(protocol, bytes, opts)?;
        let mut ctx = Ctx::new(bytes, protocol, opts);
        let message = ctx.single_param(depth)?;
        Ok(Decoded {
            message,
            unrecognized: ctx.report,
        })
    }
}

impl ErrorCause {
    /// Decodes this cause's info: the nested parameter (Unrecognized
    /// Parameter, Invalid Values, Inconsistent Pooling Policy, Inconsistent
    /// Transport Type) or message (Unrecognized Message, of `protocol`: the
    /// protocol of the message that carried the cause). One level only: a
    /// nested message's own error causes stay raw, to be decoded by another
    /// call. A nested parameter starts at depth 3 (as inside a top-level
    /// Operation Error), so `opts.max_depth` bounds it as in the message.
    /// Offsets in errors are relative to the start of the info.
    pub fn decode_info(
        &self,
        protocol: Protocol,
        opts: &DecodeOptions,
    ) -> Result<CauseInfo, DecodeError> {
        if self.info.is_empty() {
            return Ok(CauseInfo::Empty);
        }
        match self.code.info_kind() {
            CauseInfoKind::Opaque => Ok(CauseInfo::Opaque),
            CauseInfoKind::Message => {
                Message::decode(protocol, &self.info, opts).map(CauseInfo::Message)
            }
            CauseInfoKind::Parameter => {
                let ty = be16(&self.info, 0);
                let len = usize::from(be16(&self.info, 2));
                if self.info.len() >= 4 && !is_known_param(ty) && len >= 4 && len <= self.info.len()
                {
                    return Ok(CauseInfo::UnknownParameter(RawParameter {
                        offset: 0,
                        tlv: self.info[..len].to_vec(),
                    }));
                }
                Parameter::decode_at_depth(&self.info, protocol, opts, 3)
                    .map(|d| CauseInfo::Parameter(d.message))
            }
        }
    }
}

pub(super) fn message_length(
    protocol: Protocol,
    header: &[u8],
    opts: &DecodeOptions,
) -> Result<Option<usize>, DecodeError> {
    if header.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(be16(header, 2));
    let at = Location {
        protocol,
        msg_type: header.first().copied(),
        param_type: None,
        offset: 2,
    };
    if len < HEADER_LEN {
        return Err(DecodeError::BadMessageLength {
            at,
            declared: len,
            actual: header.len(),
        });
    }
    if len > opts.max_message_size {
        return Err(DecodeError::MessageTooLarge {
            at,
            length: len,
            max: opts.max_message_size,
        });
    }
    Ok(Some(len))
}

// ====================================================================
// Encoding
// ====================================================================

/// The encoding buffer and the first length that did not fit (innermost
/// first: a TLV is finished before its container). Encoding goes on after
/// an overflow, so that `encoded_len` can tell the full size.
struct W<'a> {
    out: &'a mut Vec<u8>,
    overflow: Option<(TooLong, usize)>,
}

impl W<'_> {
    fn put16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn put32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// The length field value of `n` bytes; records the overflow of `what`.
    fn len16(&mut self, n: usize, what: TooLong) -> u16 {
        match u16::try_from(n) {
            Ok(v) => v,
            Err(_) => {
                self.overflow.get_or_insert((what, n));
                u16::MAX
            }
        }
    }

    fn begin_tlv(&mut self, ty: u16) -> usize {
        let start = self.out.len();
        self.put16(ty);
        self.put16(0);
        start
    }

    /// Writes the TLV's length (padding excluded), then pads to 4 bytes.
    fn finish_tlv(&mut self, start: usize) {
        let len = self.out.len() - start;
        let ty = be16(self.out, start);
        let v = self.len16(len, TooLong::Parameter(ty));
        self.out[start + 2..start + 4].copy_from_slice(&v.to_be_bytes());
        self.out.resize(self.out.len() + pad4(len), 0);
    }

    fn tlv_bytes(&mut self, ty: u16, value: &[u8]) {
        let s = self.begin_tlv(ty);
        self.out.extend_from_slice(value);
        self.finish_tlv(s);
    }

    fn address(&mut self, a: &IpAddr) {
        match a {
            IpAddr::V4(v4) => self.tlv_bytes(pt::IPV4_ADDRESS, &v4.octets()),
            IpAddr::V6(v6) => self.tlv_bytes(pt::IPV6_ADDRESS, &v6.octets()),
        }
    }

    fn transport(&mut self, t: &TransportParam) {
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

    fn policy(&mut self, p: &Policy) {
        let s = self.begin_tlv(pt::POOL_MEMBER_SELECTION_POLICY);
        self.put32(p.policy_type().code());
        let (v, n) = p.values();
        for x in &v[..n] {
            self.put32(*x);
        }
        self.finish_tlv(s);
    }

    fn pool_element(&mut self, pe: &PoolElement) {
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

    fn server_info(&mut self, si: &ServerInformation) {
        let s = self.begin_tlv(pt::SERVER_INFORMATION);
        self.put32(si.server_id.0);
        self.transport(&si.transport);
        self.finish_tlv(s);
    }

    /// Causes are padded between each other; the last one's padding is the
    /// parameter's (as RSPLIB writes its single cause).
    fn operation_error(&mut self, e: &OperationError) {
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

    fn pe_id(&mut self, id: PeId) {
        self.tlv_bytes(pt::PE_IDENTIFIER, &id.0.to_be_bytes());
    }

    fn handle(&mut self, h: &PoolHandle) {
        self.tlv_bytes(pt::POOL_HANDLE, &h.0);
    }

    fn begin_msg(&mut self, ty: u8, flags: u8) -> usize {
        let s = self.out.len();
        self.out.push(ty);
        self.out.push(flags);
        self.put16(0);
        s
    }

    /// Message length = everything written, which includes the last
    /// parameter's padding (RSPLIB's choice).
    fn finish_msg(&mut self, start: usize) {
        let len = self.out.len() - start;
        let v = self.len16(len, TooLong::Message);
        self.out[start + 2..start + 4].copy_from_slice(&v.to_be_bytes());
        self.out.resize(self.out.len() + pad4(len), 0);
    }
}

/// Runs `f` on `out`; on an overflow, `out` is restored to what it was.
fn checked(
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
fn unchecked_len(f: impl FnOnce(&mut W<'_>)) -> usize {
    let mut out = Vec::new();
    let mut w = W {
        out: &mut out,
        overflow: None,
    };
    f(&mut w);
    out.len()
}

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
        let mut v = Vec::new();
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
        let mut v = Vec::new();
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
        let mut v = Vec::new();
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

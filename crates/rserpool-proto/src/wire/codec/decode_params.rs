//! Decoding parameters (RFC 5354) from the TLV walk: addresses,
//! transports, policies, Pool Element, Server Information, Operation Error
//! and the rest, plus the public single-parameter and cause-info decoders.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::error::DecodeError;
use super::super::ids::{PeId, PoolHandle, ServerId};
use super::super::param::{
    ErrorCause, ErrorCauseCode, OperationError, Parameter, PoolElement, RawParameter,
    ServerInformation, param_type as pt,
};
use super::super::policy::{Policy, PolicyType};
use super::super::transport::{AddressList, TransportParam, TransportUse};
use super::super::{CauseInfo, CauseInfoKind, DecodeOptions, Decoded, Message, Protocol};
use super::reader::{Ctx, Seq, Tlv};
use super::{be16, be32, check_size, is_known_param};
use pt::is_transport;

impl<'a> Ctx<'a> {
    pub(super) fn address(&mut self, t: &Tlv) -> Result<IpAddr, DecodeError> {
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

    pub(super) fn next_address(&mut self, seq: &mut Seq) -> Result<Option<IpAddr>, DecodeError> {
        match self.next(seq)? {
            None => Ok(None),
            Some(a) => self.address(&a).map(Some),
        }
    }

    pub(super) fn one_address(&mut self, seq: &mut Seq) -> Result<IpAddr, DecodeError> {
        let Some(a) = self.next_address(seq)? else {
            return Err(DecodeError::MissingParameter {
                at: self.at(seq.parent, seq.pos),
                expected: pt::IPV4_ADDRESS,
            });
        };
        self.finish(seq)?;
        Ok(a)
    }

    pub(super) fn transport_use(&self, t: &Tlv, code: u16) -> Result<TransportUse, DecodeError> {
        TransportUse::from_code(code).ok_or(DecodeError::InvalidValue {
            at: self.at_tlv(t, t.value_start() + 2),
            field: "transport use",
            value: u32::from(code),
        })
    }

    pub(super) fn transport(&mut self, t: &Tlv) -> Result<TransportParam, DecodeError> {
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

    pub(super) fn expect_transport(
        &mut self,
        seq: &mut Seq,
    ) -> Result<TransportParam, DecodeError> {
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

    pub(super) fn optional_transport(
        &mut self,
        seq: &mut Seq,
    ) -> Result<Option<TransportParam>, DecodeError> {
        match self.peek(seq)? {
            Some(t) if is_transport(t.ty) => {
                self.next(seq)?;
                self.transport(&t).map(Some)
            }
            _ => Ok(None),
        }
    }

    pub(super) fn policy(&mut self, t: &Tlv) -> Result<Policy, DecodeError> {
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

    pub(super) fn pool_handle(&self, t: &Tlv) -> PoolHandle {
        PoolHandle(self.value(t).to_vec())
    }

    pub(super) fn pe_id(&self, t: &Tlv) -> Result<PeId, DecodeError> {
        self.exact_len(t, 4)?;
        Ok(PeId(be32(self.value(t), 0)))
    }

    pub(super) fn pool_element(&mut self, t: &Tlv) -> Result<PoolElement, DecodeError> {
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

    pub(super) fn server_information(&mut self, t: &Tlv) -> Result<ServerInformation, DecodeError> {
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

    pub(super) fn operation_error(&mut self, t: &Tlv) -> Result<OperationError, DecodeError> {
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

    pub(super) fn checksum(&self, t: &Tlv) -> Result<u16, DecodeError> {
        self.exact_len(t, 2)?;
        Ok(be16(self.value(t), 0))
    }

    pub(super) fn any_param(&mut self, t: &Tlv) -> Result<Parameter, DecodeError> {
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

    pub(super) fn handle(&mut self, seq: &mut Seq) -> Result<PoolHandle, DecodeError> {
        let t = self.expect(seq, pt::POOL_HANDLE)?;
        Ok(self.pool_handle(&t))
    }

    pub(super) fn pe_id_param(&mut self, seq: &mut Seq) -> Result<PeId, DecodeError> {
        let t = self.expect(seq, pt::PE_IDENTIFIER)?;
        self.pe_id(&t)
    }

    pub(super) fn optional_error(
        &mut self,
        seq: &mut Seq,
    ) -> Result<Option<OperationError>, DecodeError> {
        match self.optional(seq, pt::OPERATION_ERROR)? {
            Some(t) => self.operation_error(&t).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn optional_policy(&mut self, seq: &mut Seq) -> Result<Option<Policy>, DecodeError> {
        match self.optional(seq, pt::POOL_MEMBER_SELECTION_POLICY)? {
            Some(t) => self.policy(&t).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn pool_elements(&mut self, seq: &mut Seq) -> Result<Vec<PoolElement>, DecodeError> {
        let mut v = Vec::new();
        while let Some(t) = self.optional(seq, pt::POOL_ELEMENT)? {
            v.push(self.pool_element(&t)?);
        }
        Ok(v)
    }

    pub(super) fn single_param(&mut self, depth: usize) -> Result<Parameter, DecodeError> {
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

    pub(super) fn decode_at_depth(
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

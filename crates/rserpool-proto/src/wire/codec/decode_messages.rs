//! Decoding ASAP (RFC 5352) and ENRP (RFC 5353) messages: the fixed
//! fields and the parameter sequence each message type has.

use super::super::asap::{self, AsapMessage};
use super::super::enrp::{self, EnrpMessage, PoolEntries, UpdateAction};
use super::super::error::DecodeError;
use super::super::ids::{PoolHandle, ServerId};
use super::super::param::PoolElement;
use super::super::param::param_type as pt;
use super::super::policy::Policy;
use super::super::{DecodeOptions, Decoded, Message, Protocol};
use super::reader::{Ctx, Seq};
use super::{be16, be32};

/// The fields every ENRP message starts with.
#[derive(Clone, Copy)]
struct EnrpHead {
    flags: u8,
    sender: ServerId,
    receiver: ServerId,
}

impl Ctx<'_> {
    /// One ASAP message: the header, the fixed fields (a server ID for
    /// Endpoint Keep-Alive and Server Announce), the parameters.
    fn asap(&mut self) -> Result<AsapMessage, DecodeError> {
        use asap::msg_type as t;
        let (ty, flags) = self.header()?;
        let fixed = match ty {
            t::ENDPOINT_KEEP_ALIVE | t::SERVER_ANNOUNCE => 4,
            _ => 0,
        };
        let mut s = self.fixed(fixed)?;
        let m = match ty {
            t::REGISTRATION => self.registration(&mut s)?,
            t::DEREGISTRATION | t::ENDPOINT_KEEP_ALIVE_ACK | t::ENDPOINT_UNREACHABLE => {
                self.pe_reference(ty, &mut s)?
            }
            t::REGISTRATION_RESPONSE | t::DEREGISTRATION_RESPONSE => {
                self.registration_answer(ty, flags, &mut s)?
            }
            t::HANDLE_RESOLUTION => self.handle_resolution(&mut s)?,
            t::HANDLE_RESOLUTION_RESPONSE => {
                let (pool_handle, policy, pool_elements) = self.pool_with_elements(&mut s)?;
                let error = self.optional_error(&mut s)?;
                AsapMessage::HandleResolutionResponse(asap::HandleResolutionResponse {
                    pool_handle,
                    policy,
                    pool_elements,
                    error,
                })
            }
            t::ENDPOINT_KEEP_ALIVE => self.keep_alive(flags, &mut s)?,
            t::SERVER_ANNOUNCE => {
                let server_id = ServerId(self.body_u32(4));
                let mut transports = Vec::new();
                while let Some(tp) = self.optional_transport(&mut s)? {
                    transports.push(tp);
                }
                AsapMessage::ServerAnnounce(asap::ServerAnnounce {
                    server_id,
                    transports,
                })
            }
            t::COOKIE | t::COOKIE_ECHO => {
                let c = self.expect(&mut s, pt::COOKIE)?;
                let cookie = self.value(&c).to_vec();
                if ty == t::COOKIE {
                    AsapMessage::Cookie(asap::Cookie { cookie })
                } else {
                    AsapMessage::CookieEcho(asap::CookieEcho { cookie })
                }
            }
            t::BUSINESS_CARD => {
                let (pool_handle, policy, pool_elements) = self.pool_with_elements(&mut s)?;
                AsapMessage::BusinessCard(asap::BusinessCard {
                    pool_handle,
                    policy,
                    pool_elements,
                })
            }
            _ => {
                // t::ERROR; header() rejected unknown types.
                let e = self.expect(&mut s, pt::OPERATION_ERROR)?;
                let error = self.operation_error(&e)?;
                AsapMessage::Error(asap::Error { error })
            }
        };
        self.finish(&mut s)?;
        Ok(m)
    }

    fn registration(&mut self, s: &mut Seq) -> Result<AsapMessage, DecodeError> {
        let pool_handle = self.handle(s)?;
        let pe = self.expect(s, pt::POOL_ELEMENT)?;
        let pool_element = self.pool_element(&pe)?;
        Ok(AsapMessage::Registration(asap::Registration {
            pool_handle,
            pool_element,
        }))
    }

    /// Deregistration, Endpoint Keep-Alive Ack, Endpoint Unreachable: a
    /// pool handle and a PE identifier.
    fn pe_reference(&mut self, ty: u8, s: &mut Seq) -> Result<AsapMessage, DecodeError> {
        use asap::msg_type as t;
        let pool_handle = self.handle(s)?;
        let pe_id = self.pe_id_param(s)?;
        Ok(match ty {
            t::DEREGISTRATION => {
                AsapMessage::Deregistration(asap::Deregistration { pool_handle, pe_id })
            }
            t::ENDPOINT_KEEP_ALIVE_ACK => {
                AsapMessage::EndpointKeepAliveAck(asap::EndpointKeepAliveAck { pool_handle, pe_id })
            }
            _ => AsapMessage::EndpointUnreachable(asap::EndpointUnreachable { pool_handle, pe_id }),
        })
    }

    /// Registration and Deregistration Response: pool handle, PE
    /// identifier, an optional Operation Error.
    fn registration_answer(
        &mut self,
        ty: u8,
        flags: u8,
        s: &mut Seq,
    ) -> Result<AsapMessage, DecodeError> {
        let pool_handle = self.handle(s)?;
        let pe_id = self.pe_id_param(s)?;
        let error = self.optional_error(s)?;
        Ok(if ty == asap::msg_type::REGISTRATION_RESPONSE {
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
        })
    }

    fn handle_resolution(&mut self, s: &mut Seq) -> Result<AsapMessage, DecodeError> {
        let pool_handle = self.handle(s)?;
        let items = match self.optional(s, pt::HANDLE_RESOLUTION_OPTION)? {
            Some(o) => {
                self.exact_len(&o, 4)?;
                Some(be32(self.value(&o), 0))
            }
            None => None,
        };
        Ok(AsapMessage::HandleResolution(asap::HandleResolution {
            pool_handle,
            items,
        }))
    }

    /// A pool handle, its optional policy and its PEs (Handle Resolution
    /// Response, Business Card).
    fn pool_with_elements(
        &mut self,
        s: &mut Seq,
    ) -> Result<(PoolHandle, Option<Policy>, Vec<PoolElement>), DecodeError> {
        let pool_handle = self.handle(s)?;
        let policy = self.optional_policy(s)?;
        let pool_elements = self.pool_elements(s)?;
        Ok((pool_handle, policy, pool_elements))
    }

    fn keep_alive(&mut self, flags: u8, s: &mut Seq) -> Result<AsapMessage, DecodeError> {
        let server_id = ServerId(self.body_u32(4));
        let pool_handle = self.handle(s)?;
        let pe_id = match self.optional(s, pt::PE_IDENTIFIER)? {
            Some(x) => Some(self.pe_id(&x)?),
            None => None,
        };
        Ok(AsapMessage::EndpointKeepAlive(asap::EndpointKeepAlive {
            home: flags & asap::flags::HOME != 0,
            server_id,
            pool_handle,
            pe_id,
        }))
    }

    /// One ENRP message: the header, sender and receiver (and a 4-byte
    /// field for Handle Update and the takeover messages), the parameters.
    fn enrp(&mut self) -> Result<EnrpMessage, DecodeError> {
        use enrp::msg_type as t;
        let (ty, flags) = self.header()?;
        let fixed = match ty {
            t::HANDLE_UPDATE | t::INIT_TAKEOVER | t::INIT_TAKEOVER_ACK | t::TAKEOVER_SERVER => 12,
            _ => 8,
        };
        let mut s = self.fixed(fixed)?;
        let head = EnrpHead {
            flags,
            sender: ServerId(self.body_u32(4)),
            receiver: ServerId(self.body_u32(8)),
        };
        let EnrpHead {
            sender, receiver, ..
        } = head;
        let m = match ty {
            t::PRESENCE => self.presence(head, &mut s)?,
            t::HANDLE_TABLE_REQUEST => EnrpMessage::HandleTableRequest(enrp::HandleTableRequest {
                own_children_only: flags & enrp::flags::OWN_CHILDREN_ONLY != 0,
                sender,
                receiver,
            }),
            t::HANDLE_TABLE_RESPONSE => self.handle_table_response(head, &mut s)?,
            t::HANDLE_UPDATE => self.handle_update(head, &mut s)?,
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
            t::INIT_TAKEOVER | t::INIT_TAKEOVER_ACK | t::TAKEOVER_SERVER => self.takeover(ty, head),
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

    fn presence(&mut self, head: EnrpHead, s: &mut Seq) -> Result<EnrpMessage, DecodeError> {
        let checksum = match self.optional(s, pt::PE_CHECKSUM)? {
            Some(c) => Some(self.checksum(&c)?),
            None => None,
        };
        let si = self.expect(s, pt::SERVER_INFORMATION)?;
        let server_info = self.server_information(&si)?;
        Ok(EnrpMessage::Presence(enrp::Presence {
            reply_required: head.flags & enrp::flags::REPLY_REQUIRED != 0,
            sender: head.sender,
            receiver: head.receiver,
            checksum,
            server_info,
        }))
    }

    /// Pools, each a pool handle followed by at least one Pool Element.
    fn handle_table_response(
        &mut self,
        head: EnrpHead,
        s: &mut Seq,
    ) -> Result<EnrpMessage, DecodeError> {
        let mut pools = Vec::new();
        while let Some(h) = self.optional(s, pt::POOL_HANDLE)? {
            let pool_handle = self.pool_handle(&h);
            let pool_elements = self.pool_elements(s)?;
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
        Ok(EnrpMessage::HandleTableResponse(
            enrp::HandleTableResponse {
                reject: head.flags & enrp::flags::REJECT != 0,
                more_to_send: head.flags & enrp::flags::MORE_TO_SEND != 0,
                sender: head.sender,
                receiver: head.receiver,
                pools,
            },
        ))
    }

    fn handle_update(&mut self, head: EnrpHead, s: &mut Seq) -> Result<EnrpMessage, DecodeError> {
        let code = be16(self.buf, 12);
        let Some(action) = UpdateAction::from_code(code) else {
            return Err(DecodeError::InvalidValue {
                at: self.at(None, 12),
                field: "update action",
                value: u32::from(code),
            });
        };
        let pool_handle = self.handle(s)?;
        let pe = self.expect(s, pt::POOL_ELEMENT)?;
        let pool_element = self.pool_element(&pe)?;
        Ok(EnrpMessage::HandleUpdate(enrp::HandleUpdate {
            takeover_suggested: head.flags & enrp::flags::TAKEOVER_SUGGESTED != 0,
            sender: head.sender,
            receiver: head.receiver,
            action,
            pool_handle,
            pool_element,
        }))
    }

    /// Init Takeover, Init Takeover Ack, Takeover Server: the target's ID
    /// in the fixed fields, no parameters.
    fn takeover(&self, ty: u8, head: EnrpHead) -> EnrpMessage {
        use enrp::msg_type as t;
        let EnrpHead {
            sender, receiver, ..
        } = head;
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

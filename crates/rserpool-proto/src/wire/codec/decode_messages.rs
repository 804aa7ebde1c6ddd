//! Decoding ASAP (RFC 5352) and ENRP (RFC 5353) messages: the fixed
//! fields and the parameter sequence each message type has.

use super::super::asap::{self, AsapMessage};
use super::super::enrp::{self, EnrpMessage, PoolEntries, UpdateAction};
use super::super::error::DecodeError;
use super::super::ids::ServerId;
use super::super::param::param_type as pt;
use super::super::{DecodeOptions, Decoded, Message, Protocol};
use super::reader::Ctx;
use super::{be16, be32};

impl Ctx<'_> {
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

//! One message's decoding state and the TLV walk under it: every read is
//! bounds-checked, lengths and padding are verified, nesting is bounded by
//! `max_depth`, and unknown parameters are skipped or reported as their
//! type's action bits say.

use super::super::error::{DecodeError, Location};
use super::super::param::{RawParameter, UnknownAction};
use super::super::{DecodeOptions, HEADER_LEN, Protocol};
use super::{be16, be32, is_known_param, pad4};

/// Decoding state of one message.
pub(super) struct Ctx<'a> {
    pub(super) buf: &'a [u8],
    pub(super) protocol: Protocol,
    pub(super) msg_type: Option<u8>,
    pub(super) opts: &'a DecodeOptions,
    pub(super) params: usize,
    pub(super) report: Vec<RawParameter>,
}

/// A parameter TLV found in the buffer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tlv {
    pub(super) ty: u16,
    /// Offset of the TLV header.
    pub(super) offset: usize,
    /// Declared length (header included, padding excluded).
    pub(super) len: usize,
    pub(super) depth: usize,
}

impl Tlv {
    pub(super) fn value_start(&self) -> usize {
        self.offset + 4
    }
    pub(super) fn value_end(&self) -> usize {
        self.offset + self.len
    }
    pub(super) fn value_len(&self) -> usize {
        self.len - 4
    }
}

/// A sequence of TLVs (parameters, or error causes) inside a container.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seq {
    pub(super) pos: usize,
    pub(super) end: usize,
    /// Depth of the TLVs in this sequence.
    pub(super) depth: usize,
    /// Type of the containing parameter, for error locations.
    pub(super) parent: Option<u16>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(buf: &'a [u8], protocol: Protocol, opts: &'a DecodeOptions) -> Ctx<'a> {
        Ctx {
            buf,
            protocol,
            msg_type: None,
            opts,
            params: 0,
            report: Vec::new(),
        }
    }

    pub(super) fn at(&self, param_type: Option<u16>, offset: usize) -> Location {
        Location {
            protocol: self.protocol,
            msg_type: self.msg_type,
            param_type,
            offset,
        }
    }

    pub(super) fn at_tlv(&self, t: &Tlv, offset: usize) -> Location {
        self.at(Some(t.ty), offset)
    }

    /// Reads the next raw TLV header of `seq` (type and length checked,
    /// padding checked and skipped). `cause` selects error-cause TLVs,
    /// which do not count as nesting depth.
    pub(super) fn next_raw(
        &mut self,
        seq: &mut Seq,
        cause: bool,
    ) -> Result<Option<Tlv>, DecodeError> {
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
    pub(super) fn next(&mut self, seq: &mut Seq) -> Result<Option<Tlv>, DecodeError> {
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
    pub(super) fn peek(&mut self, seq: &mut Seq) -> Result<Option<Tlv>, DecodeError> {
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

    pub(super) fn expect(&mut self, seq: &mut Seq, ty: u16) -> Result<Tlv, DecodeError> {
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

    pub(super) fn optional(&mut self, seq: &mut Seq, ty: u16) -> Result<Option<Tlv>, DecodeError> {
        match self.peek(seq)? {
            Some(t) if t.ty == ty => self.next(seq),
            _ => Ok(None),
        }
    }

    pub(super) fn finish(&mut self, seq: &mut Seq) -> Result<(), DecodeError> {
        match self.next(seq)? {
            None => Ok(()),
            Some(t) => Err(DecodeError::UnexpectedParameter {
                at: self.at(Some(t.ty), t.offset),
            }),
        }
    }

    /// The parameters inside `t`'s value after `fixed` bytes of fixed fields.
    pub(super) fn inner(&self, t: &Tlv, fixed: usize) -> Result<Seq, DecodeError> {
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

    pub(super) fn exact_len(&self, t: &Tlv, expected: usize) -> Result<(), DecodeError> {
        if t.value_len() != expected {
            return Err(DecodeError::BadValueLength {
                at: self.at_tlv(t, t.offset),
                length: t.value_len(),
                expected,
            });
        }
        Ok(())
    }

    pub(super) fn value(&self, t: &Tlv) -> &'a [u8] {
        &self.buf[t.value_start()..t.value_end()]
    }

    /// Reads and checks the header; returns (type, flags, sequence of the
    /// body after `fixed` bytes of fixed fields).
    pub(super) fn header(&mut self) -> Result<(u8, u8), DecodeError> {
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

    pub(super) fn declared_len(&self) -> usize {
        usize::from(be16(self.buf, 2))
    }

    /// Fixed fields after the header: checks that `n` bytes are there and
    /// returns the parameter sequence that follows them.
    pub(super) fn fixed(&self, n: usize) -> Result<Seq, DecodeError> {
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

    pub(super) fn body_u32(&self, at: usize) -> u32 {
        be32(self.buf, at)
    }
}

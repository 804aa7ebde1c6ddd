//! The pool element's half of the ASAP session layer (RFC 5352 section 4):
//! one [`PeSession`] per pool user association. It builds the COOKIE and
//! BUSINESS_CARD frames the application sends, and sorts received frames
//! into application data and control (COOKIE_ECHO after a failover).

use std::fmt;

use crate::data_channel::{Frame, PPID_ASAP};
use crate::wire::asap::{self, AsapMessage};
use crate::wire::{
    DecodeError, DecodeOptions, EncodeError, Policy, PoolElement, PoolHandle, TransportUse,
};

/// A received frame, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionInput {
    /// The application's message.
    Data(Frame),
    /// The pool user failed over to this PE and replays the state the
    /// previous PE handed out in its last COOKIE.
    CookieEcho(Vec<u8>),
    /// The pool user sent failover candidates of its own.
    BusinessCard(asap::BusinessCard),
}

/// Why a frame could not be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// A PPID 11 frame that is not a valid ASAP message.
    BadControl(DecodeError),
    /// An ASAP message that has no place on a data channel.
    UnexpectedControl(&'static str),
    /// PPID 11 is ASAP's; the application cannot use it with control
    /// multiplexed on the channel.
    ReservedPpid,
    /// Control messages need transport use "data plus control".
    DataOnly,
    /// The control message (e.g. a cookie) is too long to encode.
    TooLong(EncodeError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::BadControl(e) => write!(f, "bad ASAP control message: {e}"),
            SessionError::UnexpectedControl(t) => write!(f, "unexpected {t} on a data channel"),
            SessionError::ReservedPpid => {
                f.write_str("PPID 11 is reserved for ASAP control messages")
            }
            SessionError::DataOnly => {
                f.write_str("the transport is data only: no ASAP control messages")
            }
            SessionError::TooLong(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// One pool user association, seen from the pool element.
#[derive(Clone, Debug)]
pub struct PeSession {
    transport_use: TransportUse,
    last_echo: Option<Vec<u8>>,
}

impl PeSession {
    /// `transport_use` as registered in the PE's user transport.
    pub fn new(transport_use: TransportUse) -> Self {
        PeSession {
            transport_use,
            last_echo: None,
        }
    }

    fn control(&self, m: AsapMessage) -> Result<Frame, SessionError> {
        match self.transport_use {
            TransportUse::DataPlusControl => m
                .to_bytes()
                .map(|b| Frame::new(PPID_ASAP, b))
                .map_err(SessionError::TooLong),
            TransportUse::DataOnly => Err(SessionError::DataOnly),
        }
    }

    /// A COOKIE frame: state the pool user replays to the next PE.
    pub fn cookie(&self, cookie: &[u8]) -> Result<Frame, SessionError> {
        self.control(AsapMessage::from(asap::Cookie {
            cookie: cookie.to_vec(),
        }))
    }

    /// A BUSINESS_CARD frame: the PEs the pool user should fail over to.
    pub fn business_card(
        &self,
        pool_handle: PoolHandle,
        policy: Option<Policy>,
        pool_elements: Vec<PoolElement>,
    ) -> Result<Frame, SessionError> {
        self.control(AsapMessage::from(asap::BusinessCard {
            pool_handle,
            policy,
            pool_elements,
        }))
    }

    /// An application message.
    pub fn data(&self, ppid: u32, payload: impl Into<Vec<u8>>) -> Result<Frame, SessionError> {
        if ppid == PPID_ASAP && self.transport_use == TransportUse::DataPlusControl {
            return Err(SessionError::ReservedPpid);
        }
        Ok(Frame::new(ppid, payload))
    }

    /// Sorts a frame received from the pool user.
    pub fn receive(&mut self, frame: Frame) -> Result<SessionInput, SessionError> {
        if !frame.is_asap() || self.transport_use == TransportUse::DataOnly {
            return Ok(SessionInput::Data(frame));
        }
        let d = AsapMessage::decode(&frame.payload, &DecodeOptions::DEFAULT)
            .map_err(SessionError::BadControl)?;
        match d.message {
            AsapMessage::CookieEcho(c) => {
                self.last_echo = Some(c.cookie.clone());
                Ok(SessionInput::CookieEcho(c.cookie))
            }
            AsapMessage::BusinessCard(b) => Ok(SessionInput::BusinessCard(b)),
            other => Err(SessionError::UnexpectedControl(other.type_name())),
        }
    }

    /// The cookie the pool user echoed on this association, if it did.
    pub fn echoed_cookie(&self) -> Option<&[u8]> {
        self.last_echo.as_deref()
    }
}

//! Why a probe failed, precisely enough for a caller to tell a dead
//! registrar from a refusing one.

use crate::wire::{DecodeError, ErrorCauseCode};
use std::fmt;

/// What the probe was waiting for when its time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// The association to the registrar's ENRP port.
    Association,
    /// The registrar's PRESENCE answering the probe's.
    Presence,
    /// A HANDLE_TABLE_RESPONSE block.
    TableResponse,
    /// The LIST_RESPONSE with the registrar's peers.
    ListResponse,
}

impl fmt::Display for Awaited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Awaited::Association => "the association to come up",
            Awaited::Presence => "the registrar's PRESENCE",
            Awaited::TableResponse => "the HANDLE_TABLE_RESPONSE",
            Awaited::ListResponse => "the LIST_RESPONSE",
        })
    }
}

/// How the registrar refused the probe's requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A HANDLE_TABLE_RESPONSE with the R (reject) flag.
    TableRejected,
    /// An ENRP ERROR with these causes.
    Error(Vec<ErrorCauseCode>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TableRejected => f.write_str("HANDLE_TABLE_RESPONSE with the R flag"),
            Refusal::Error(causes) => {
                let names: Vec<&str> = causes.iter().map(|c| c.name()).collect();
                write!(f, "ERROR: {}", names.join(", "))
            }
        }
    }
}

/// Why a probe could not produce a snapshot. Once failed, a probe stays
/// failed: its driver closes the association.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// The registrar closed the association (or the driver lost it).
    Closed,
    /// No answer within the time limit; says what was awaited.
    Timeout(Awaited),
    /// The registrar sent bytes that are not an ENRP message.
    Decode(DecodeError),
    /// The registrar refused a request.
    Refused(Refusal),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Closed => f.write_str("the registrar closed the association"),
            ProbeError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            ProbeError::Decode(e) => write!(f, "undecodable message from the registrar: {e}"),
            ProbeError::Refused(why) => write!(f, "the registrar refused: {why}"),
        }
    }
}

impl std::error::Error for ProbeError {}

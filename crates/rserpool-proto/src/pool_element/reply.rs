//! Decoding a peer's ASAP message, and the ERROR answer RFC 5352 asks for
//! when it cannot be understood.

use crate::wire::asap::{self, AsapMessage};
use crate::wire::{DecodeError, DecodeOptions, ErrorCause, OperationError};

/// A decoded message and, if the peer must be told about unrecognized
/// parameters or a message type we do not know, the ERROR to send back.
pub(crate) struct Incoming {
    pub message: Result<AsapMessage, DecodeError>,
    pub reply: Option<Vec<u8>>,
}

pub(crate) fn decode(bytes: &[u8]) -> Incoming {
    match AsapMessage::decode(bytes, &DecodeOptions::DEFAULT) {
        Ok(d) => Incoming {
            reply: OperationError::unrecognized_parameters(&d.unrecognized)
                .map(|error| AsapMessage::from(asap::Error { error }).to_bytes()),
            message: Ok(d.message),
        },
        Err(e) => {
            let error = match &e {
                DecodeError::UnknownMessageType { .. } => Some(OperationError::single(
                    ErrorCause::unrecognized_message(bytes),
                )),
                other => OperationError::unrecognized_parameters(other.report()),
            };
            Incoming {
                reply: error.map(|error| AsapMessage::from(asap::Error { error }).to_bytes()),
                message: Err(e),
            }
        }
    }
}

//! Decoding a peer's ASAP message, and the ERROR answer RFC 5352 asks for
//! when it cannot be understood.

use crate::wire::asap::{self, AsapMessage};
use crate::wire::{DecodeError, DecodeOptions, ErrorCause, OperationError};

// The Error replies always encode: `unrecognized_parameters` and
// `unrecognized_message` keep their causes within the message size.

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
                .and_then(|error| AsapMessage::from(asap::Error { error }).to_bytes().ok()),
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
                reply: error
                    .and_then(|error| AsapMessage::from(asap::Error { error }).to_bytes().ok()),
                message: Err(e),
            }
        }
    }
}

//! The answer to an association the registrar cannot take (its limit of
//! associations, or its sender host's, is reached): an ASAP or ENRP Error
//! with the single cause Lack of Resources, after which the runtime
//! closes the association unregistered.

use crate::wire::{
    AsapMessage, EncodeError, EnrpMessage, ErrorCause, ErrorCauseCode, OperationError, Protocol,
    ServerId, asap, enrp,
};

/// The Error message refusing an association of `protocol`.
pub fn refusal(protocol: Protocol) -> Result<Vec<u8>, EncodeError> {
    let error = OperationError::single(ErrorCause::bare(ErrorCauseCode::LackOfResources));
    match protocol {
        Protocol::Asap => AsapMessage::from(asap::Error { error }).to_bytes(),
        // The peer is unknown yet: neither side is named.
        Protocol::Enrp => EnrpMessage::from(enrp::Error {
            sender: ServerId(0),
            receiver: ServerId(0),
            error,
        })
        .to_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::DecodeOptions;

    #[test]
    fn refusals_carry_lack_of_resources() {
        let asap = refusal(Protocol::Asap).unwrap();
        match AsapMessage::decode(&asap, &DecodeOptions::default())
            .unwrap()
            .message
        {
            AsapMessage::Error(e) => {
                assert_eq!(e.error.causes[0].code, ErrorCauseCode::LackOfResources)
            }
            m => panic!("{m:?}"),
        }
        let enrp = refusal(Protocol::Enrp).unwrap();
        match EnrpMessage::decode(&enrp, &DecodeOptions::default())
            .unwrap()
            .message
        {
            EnrpMessage::Error(e) => {
                assert_eq!(e.error.causes[0].code, ErrorCauseCode::LackOfResources)
            }
            m => panic!("{m:?}"),
        }
    }
}

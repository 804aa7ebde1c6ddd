//! `cargo +nightly fuzz run decode`: the ASAP and ENRP decoders on arbitrary
//! bytes. The first byte picks the protocol; the rest is the message.
//! Whatever decodes must re-encode to bytes that decode to the same message,
//! and error cause infos must decode without panicking. The certificate
//! reader of `identity` runs on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rserpool_proto::wire::{
    AsapMessage, DecodeOptions, EnrpMessage, Message, OperationError, Parameter, Protocol,
    message_length,
};

fn causes(m: &Message) -> Vec<&OperationError> {
    use rserpool_proto::wire::{AsapMessage as A, EnrpMessage as E};
    match m {
        Message::Asap(A::RegistrationResponse(r)) => r.error.iter().collect(),
        Message::Asap(A::DeregistrationResponse(r)) => r.error.iter().collect(),
        Message::Asap(A::HandleResolutionResponse(r)) => r.error.iter().collect(),
        Message::Asap(A::Error(e)) => vec![&e.error],
        Message::Enrp(E::Error(e)) => vec![&e.error],
        _ => vec![],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let protocol = if sel & 1 == 0 {
        Protocol::Asap
    } else {
        Protocol::Enrp
    };
    let opts = DecodeOptions::default();
    let _ = message_length(protocol, bytes, &opts);
    let _ = Parameter::decode(bytes, protocol, &opts);
    let _ = AsapMessage::decode(bytes, &opts);
    let _ = EnrpMessage::decode(bytes, &opts);
    // The certificate reader (identities under TLS) on the same bytes.
    let _ = rserpool_proto::identity::Identity::from_certificate(bytes);
    if let Ok(d) = Message::decode(protocol, bytes, &opts) {
        // A message of 65535 bytes without its last padding re-encodes
        // padded, one length too long: the encoder refuses it.
        let Ok(again) = d.message.to_bytes() else {
            return;
        };
        let d2 = Message::decode(protocol, &again, &opts).expect("re-encoding decodes");
        assert_eq!(d2.message, d.message);
        for e in causes(&d.message) {
            for c in &e.causes {
                let _ = c.decode_info(protocol, &opts);
            }
        }
    }
});

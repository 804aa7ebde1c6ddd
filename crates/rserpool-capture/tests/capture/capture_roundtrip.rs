//! Every ASAP and ENRP message of the RSPLIB capture decodes and re-encodes
//! to the very bytes RSPLIB sent.
#![allow(clippy::unwrap_used)]

use rserpool_capture::{Protocol, extract_file};
use rserpool_proto::wire::{self, DecodeOptions, Message};

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/rsplib-demo.pcapng"
);

#[test]
fn every_captured_message_reencodes_byte_for_byte() {
    let x = extract_file(CAPTURE).unwrap();
    assert_eq!(x.messages.len(), 855);
    let opts = DecodeOptions::default();
    let mut types = std::collections::BTreeSet::new();
    for m in &x.messages {
        let protocol = match m.protocol {
            Protocol::Asap => wire::Protocol::Asap,
            Protocol::Enrp => wire::Protocol::Enrp,
        };
        let decoded = Message::decode(protocol, &m.bytes, &opts)
            .unwrap_or_else(|e| panic!("frame {}: {e}", m.frame));
        assert!(decoded.unrecognized.is_empty(), "frame {}", m.frame);
        let mut out = Vec::new();
        decoded.message.encode(&mut out).expect("encodes");
        assert_eq!(
            out,
            m.bytes,
            "frame {} ({})",
            m.frame,
            decoded.message.type_name()
        );
        types.insert(decoded.message.type_name());
    }
    // 15 message types occur in the capture.
    assert_eq!(types.len(), 15, "{types:?}");
}

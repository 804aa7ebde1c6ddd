//! The real RSPLIB capture: what tshark 4.0 finds, this reader must find.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use rserpool_capture::{Carrier, Protocol, extract_file};

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/rsplib-demo.pcapng"
);

#[test]
fn message_counts_equal_tsharks() {
    let x = extract_file(CAPTURE).unwrap();
    let mut counts: BTreeMap<(Protocol, u8), usize> = BTreeMap::new();
    for m in &x.messages {
        *counts.entry((m.protocol, m.bytes[0])).or_default() += 1;
    }
    // Message counts by tshark (captures/README.md), by protocol and type.
    let expected = [
        ((Protocol::Asap, 0x05), 371), // Handle Resolution
        ((Protocol::Asap, 0x06), 371), // Handle Resolution Response
        ((Protocol::Asap, 0x0a), 31),  // Server Announce
        ((Protocol::Asap, 0x07), 20),  // Endpoint Keep-Alive
        ((Protocol::Asap, 0x08), 20),  // Endpoint Keep-Alive Ack
        ((Protocol::Enrp, 0x01), 15),  // Presence
        ((Protocol::Asap, 0x0b), 6),   // Cookie
        ((Protocol::Asap, 0x01), 4),   // Registration
        ((Protocol::Asap, 0x03), 4),   // Registration Response
        ((Protocol::Asap, 0x02), 4),   // Deregistration
        ((Protocol::Asap, 0x04), 4),   // Deregistration Response
        ((Protocol::Enrp, 0x05), 2),   // List Request
        ((Protocol::Enrp, 0x06), 1),   // List Response
        ((Protocol::Enrp, 0x02), 1),   // Handle Table Request
        ((Protocol::Enrp, 0x03), 1),   // Handle Table Response
    ];
    assert_eq!(counts, BTreeMap::from(expected));
    assert_eq!(x.messages.len(), 855);
}

#[test]
fn frames_times_and_carriers_match_tsharks_view() {
    let x = extract_file(CAPTURE).unwrap();
    let first = x.first_timestamp.unwrap();
    // Frame 24 is the first message: "24  2.485324990  ... 45471 3863  ASAP Registration".
    let m = &x.messages[0];
    assert_eq!(m.frame, 24);
    assert_eq!(m.timestamp.nanos_since(first), 2_485_324_990);
    assert_eq!(m.src.port(), 45471);
    assert_eq!(m.dst.port(), 3863);
    assert_eq!(
        m.carrier,
        Carrier::Sctp {
            ppid: 11,
            stream: 0
        }
    );
    // Frame 51 is an ENRP Presence to the multicast group over UDP.
    let presence = x.messages.iter().find(|m| m.frame == 51).unwrap();
    assert_eq!(presence.carrier, Carrier::Udp);
    assert_eq!(presence.protocol, Protocol::Enrp);
    assert_eq!(presence.dst.to_string(), "239.0.0.51:9901");
    // Every message's length field covers exactly the captured bytes.
    for m in &x.messages {
        let len = u16::from_be_bytes([m.bytes[2], m.bytes[3]]) as usize;
        assert_eq!(len, m.bytes.len(), "frame {}", m.frame);
    }
    // Frames are ascending, and a clean capture has nothing to report.
    assert!(x.messages.windows(2).all(|w| w[0].frame <= w[1].frame));
    assert!(x.diagnostics.is_empty(), "{:?}", x.diagnostics);
}

#[test]
fn damaged_copies_of_the_capture_never_panic() {
    let original = std::fs::read(CAPTURE).unwrap();
    let full = rserpool_capture::extract(&original).messages.len();
    // Block boundaries of this (little-endian) pcapng file: a cut there is clean.
    let mut boundaries = std::collections::HashSet::new();
    let mut at = 0;
    while at < original.len() {
        boundaries.insert(at);
        at += u32::from_le_bytes(original[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    // Cut the file at many places: messages can only get fewer.
    for cut in (0..original.len()).step_by(7919) {
        let x = rserpool_capture::extract(&original[..cut]);
        assert!(x.messages.len() <= full);
        if !boundaries.contains(&cut) {
            assert!(!x.diagnostics.is_empty(), "cut at {cut} went unnoticed");
        }
    }
    // Flip bytes pseudo-randomly (a fixed LCG keeps failures reproducible).
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..64 {
        let mut damaged = original.clone();
        for _ in 0..200 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let at = (state >> 33) as usize % damaged.len();
            damaged[at] ^= (state >> 24) as u8 | 1;
        }
        let _ = rserpool_capture::extract(&damaged);
    }
}

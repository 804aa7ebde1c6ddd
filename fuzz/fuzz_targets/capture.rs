//! `cargo +nightly fuzz run capture`: the capture reader on arbitrary bytes.
//! The first byte picks what the rest is: a whole file (pcap, pcapng or
//! junk), or the payload of one IPv4 packet (SCTP, TCP or UDP, by the
//! second byte) inside a valid pcap file, so that mutations reach the
//! SCTP chunk reassembly, the TCP stream reader and the message cutter
//! without first having to guess a file format.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A pcap global header: little-endian, version 2.4, snaplen 65535,
/// link type 1 (Ethernet).
const PCAP: [u8; 24] = [
    0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
];

/// A pcap file holding one Ethernet frame with an IPv4 packet of protocol
/// `proto` carrying `payload` (127.0.0.1 to 127.0.0.2).
fn one_packet(proto: u8, payload: &[u8]) -> Vec<u8> {
    let ip_len = 20 + payload.len();
    let frame_len = 14 + ip_len;
    let mut f = PCAP.to_vec();
    f.extend_from_slice(&[0; 8]); // time
    f.extend_from_slice(&(frame_len as u32).to_le_bytes());
    f.extend_from_slice(&(frame_len as u32).to_le_bytes());
    f.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(ip_len.min(65535) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2]);
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 2 {
        0 => {
            let _ = rserpool_capture::extract(rest);
        }
        _ => {
            let Some((&p, payload)) = rest.split_first() else {
                return;
            };
            let proto = [132, 6, 17][usize::from(p % 3)];
            let _ = rserpool_capture::extract(&one_packet(proto, payload));
        }
    }
});

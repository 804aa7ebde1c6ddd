//! Hand-built captures: every file flavour, link type and transport, and
//! the damaged, reordered and repeated traffic a reader must cope with.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rserpool_capture::bytes::Endian;
use rserpool_capture::synth::{self, data_flags, tcp_flags};
use rserpool_capture::{
    CapturedMessage, Carrier, DiagnosticKind, Extraction, Protocol, Severity, Timestamp, extract,
};

const RAW: u32 = 101;
const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

/// An ASAP/ENRP-shaped message: type, flags, length, then `body_len` bytes.
fn msg(kind: u8, body_len: usize) -> Vec<u8> {
    let len = 4 + body_len;
    let mut m = vec![kind, 0, (len >> 8) as u8, len as u8];
    m.extend((0..body_len).map(|i| (i * 7 + usize::from(kind)) as u8));
    m
}

fn ts(secs: i64, nanos: u32) -> Timestamp {
    Timestamp::new(secs, nanos)
}

/// A raw-IP pcap of the given IP packets, one second apart.
fn raw_pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let frames: Vec<_> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| (ts(1000 + i as i64, 0), p.clone()))
        .collect();
    synth::pcap(Endian::Little, false, RAW, &frames)
}

fn udp_announce(msg: &[u8]) -> Vec<u8> {
    synth::ip(A, B, 17, &synth::udp(3863, 3863, msg))
}

fn sctp_packet(src_port: u16, dst_port: u16, chunks: &[Vec<u8>]) -> Vec<u8> {
    synth::ip(A, B, 132, &synth::sctp(src_port, dst_port, 0xabcd, chunks))
}

fn tcp_seg(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    synth::ip(A, B, 6, &synth::tcp(40000, 3863, seq, flags, payload))
}

fn kinds(x: &Extraction) -> Vec<&DiagnosticKind> {
    x.diagnostics.iter().map(|d| &d.kind).collect()
}

fn bytes(x: &Extraction) -> Vec<Vec<u8>> {
    x.messages.iter().map(|m| m.bytes.clone()).collect()
}

#[test]
fn pcap_in_both_byte_orders_and_resolutions() {
    let m = msg(0x0a, 8);
    let frame = udp_announce(&m);
    for endian in [Endian::Little, Endian::Big] {
        for nanos in [false, true] {
            let file = synth::pcap(
                endian,
                nanos,
                RAW,
                &[
                    (ts(1_700_000_000, 123_456_789), frame.clone()),
                    (ts(1_700_000_001, 5_000), frame.clone()),
                ],
            );
            let x = extract(&file);
            assert_eq!(x.frames, 2);
            assert_eq!(x.messages.len(), 2, "{endian:?} nanos={nanos}");
            let expected_nanos = if nanos { 123_456_789 } else { 123_456_000 };
            assert_eq!(x.messages[0].timestamp, ts(1_700_000_000, expected_nanos));
            assert_eq!(x.messages[1].timestamp, ts(1_700_000_001, 5_000));
            assert_eq!(x.messages[1].frame, 2);
            assert_eq!(x.messages[0].bytes, m);
            assert!(x.diagnostics.is_empty());
        }
    }
}

#[test]
fn pcapng_sections_interfaces_resolutions_and_block_kinds() {
    let m1 = msg(0x05, 12);
    let m2 = msg(0x06, 20);
    let ip1 = udp_announce(&m1);
    let ip2 = synth::ip(B, A, 17, &synth::udp(9901, 9901, &m2));
    for endian in [Endian::Little, Endian::Big] {
        let mut w = synth::Pcapng::new(endian);
        w.interface(1, None) // Ethernet, microseconds
            .interface(113, Some(9)) // SLL, nanoseconds
            .interface(101, Some(0x80 | 10)) // raw IP, 2^-10 s
            .block(0x0000_0bad, &[0, 0, 0x7e, 0x1b, 5, 6, 7, 8]) // custom block
            .epb(0, 1_500_000, &synth::ethernet(0x0800, None, &ip1))
            .epb(1, 2_000_000_007, &synth::sll(0x0800, &ip2))
            .epb(2, (3 << 10) | 512, &ip1)
            .spb(&synth::ethernet(0x0800, None, &ip2))
            .pb(1, 4_000_000_000, &synth::sll(0x0800, &ip1));
        // A new section in the other byte order forgets earlier interfaces.
        let other = match endian {
            Endian::Little => Endian::Big,
            Endian::Big => Endian::Little,
        };
        w.section(other).interface(229, Some(3)).epb(
            0,
            5_250,
            &synth::ip(
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                17,
                &synth::udp(3863, 3863, &m1),
            ),
        );
        let x = extract(w.bytes());
        assert!(x.diagnostics.is_empty(), "{:?}", x.diagnostics);
        assert_eq!(x.frames, 6);
        let got: Vec<_> = x
            .messages
            .iter()
            .map(|m| (m.frame, m.timestamp, m.protocol))
            .collect();
        // Wireshark lists the custom block as frame 1.
        assert_eq!(
            got,
            vec![
                (2, ts(1, 500_000_000), Protocol::Asap),
                (3, ts(2, 7), Protocol::Enrp),
                (4, ts(3, 500_000_000), Protocol::Asap),
                // The SPB has no time of its own: it keeps the previous one.
                (5, ts(3, 500_000_000), Protocol::Enrp),
                (6, ts(4, 0), Protocol::Asap),
                (7, ts(5, 250_000_000), Protocol::Asap),
            ]
        );
        assert_eq!(x.messages[5].src, "[::1]:3863".parse().unwrap());
        assert_eq!(x.first_timestamp, Some(ts(1, 500_000_000)));
    }
}

#[test]
fn every_link_type() {
    let m = msg(0x01, 4);
    let ip4 = udp_announce(&m);
    let ip6 = synth::ip(
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6("ff02::1".parse().unwrap()),
        17,
        &synth::udp(1234, 3863, &m),
    );
    let cases: Vec<(u32, Vec<u8>)> = vec![
        (1, synth::ethernet(0x0800, None, &ip4)),
        (1, synth::ethernet(0x86dd, Some(42), &ip6)),
        (113, synth::sll(0x0800, &ip4)),
        (113, synth::sll(0x86dd, &ip6)),
        (276, synth::sll2(0x0800, &ip4)),
        (276, synth::sll2(0x86dd, &ip6)),
        (101, ip4.clone()),
        (101, ip6.clone()),
        (228, ip4.clone()),
        (229, ip6.clone()),
        (0, synth::null(2, Endian::Little, &ip4)),
        (0, synth::null(2, Endian::Big, &ip4)),
        (0, synth::null(30, Endian::Little, &ip6)),
        (0, synth::null(24, Endian::Big, &ip6)),
    ];
    for (link_type, frame) in cases {
        let file = synth::pcap(Endian::Little, false, link_type, &[(ts(1, 0), frame)]);
        let x = extract(&file);
        assert_eq!(bytes(&x), vec![m.clone()], "link type {link_type}");
        assert_eq!(x.messages[0].carrier, Carrier::Udp);
        assert_eq!(x.messages[0].dst.port(), 3863);
    }
}

#[test]
fn unsupported_link_type_is_reported_once() {
    let frame = (ts(1, 0), udp_announce(&msg(1, 4)));
    let file = synth::pcap(Endian::Little, false, 127, &[frame.clone(), frame]);
    let x = extract(&file);
    assert!(x.messages.is_empty());
    assert_eq!(
        kinds(&x),
        vec![&DiagnosticKind::UnsupportedLinkType { link_type: 127 }]
    );
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let m = msg(0x0a, 8);
    let udp = synth::udp(3863, 3863, &m);
    // Hop-by-hop (8 bytes), destination options (16 bytes), then UDP.
    let mut payload = vec![60, 0, 1, 4, 0, 0, 0, 0];
    payload.extend_from_slice(&[17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    payload.extend_from_slice(&udp);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let packet = synth::ip(v6, v6, 0, &payload);
    // An atomic fragment header (offset 0, no more fragments) is a whole packet.
    let mut atomic = vec![17, 0, 0, 0, 0, 0, 0, 7];
    atomic.extend_from_slice(&udp);
    let atomic = synth::ip(v6, v6, 44, &atomic);
    // A real fragment is skipped with a note.
    let mut fragment = vec![17, 0, 0, 1, 0, 0, 0, 7];
    fragment.extend_from_slice(&udp);
    let fragment = synth::ip(v6, v6, 44, &fragment);
    let x = extract(&raw_pcap(&[packet, atomic, fragment]));
    assert_eq!(bytes(&x), vec![m.clone(), m]);
    assert_eq!(x.diagnostics.len(), 1);
    assert_eq!(x.diagnostics[0].frame, Some(3));
    assert_eq!(x.diagnostics[0].severity(), Severity::Note);
    assert!(matches!(
        x.diagnostics[0].kind,
        DiagnosticKind::IpFragment { .. }
    ));
}

#[test]
fn ipv4_fragments_are_skipped_with_a_note() {
    let mut packet = udp_announce(&msg(0x0a, 8));
    packet[6] = 0x20; // more fragments
    let x = extract(&raw_pcap(&[packet]));
    assert!(x.messages.is_empty());
    assert!(matches!(kinds(&x)[..], [DiagnosticKind::IpFragment { .. }]));
}

#[test]
fn sctp_bundles_and_classification() {
    let asap = msg(0x05, 8);
    let enrp = msg(0x01, 12);
    let other = msg(0x33, 4);
    let packets = [
        // SACK + two DATA chunks in one packet.
        sctp_packet(
            5000,
            3863,
            &[
                synth::sctp_sack(7),
                synth::sctp_data(1, 0, 0, 11, data_flags::WHOLE, &asap),
                synth::sctp_data(2, 1, 0, 12, data_flags::WHOLE, &enrp),
            ],
        ),
        // Old draft PPID, and PPID 0 on the ENRP port.
        sctp_packet(
            5000,
            3863,
            &[
                synth::sctp_data(3, 0, 1, 0xfaee_b5d1, data_flags::WHOLE, &asap),
                synth::sctp_data(4, 2, 0, 0, data_flags::WHOLE, &asap),
            ],
        ),
        sctp_packet(
            9901,
            6000,
            &[synth::sctp_data(9, 0, 0, 0, data_flags::WHOLE, &enrp)],
        ),
        // Application PPID between two non-RSerPool ports: not ours.
        sctp_packet(
            7000,
            6000,
            &[synth::sctp_data(9, 0, 0, 33, data_flags::WHOLE, &other)],
        ),
    ];
    let x = extract(&raw_pcap(&packets));
    let got: Vec<_> = x
        .messages
        .iter()
        .map(|m| (m.frame, m.protocol, m.carrier))
        .collect();
    use Protocol::*;
    let sctp = |ppid, stream| Carrier::Sctp { ppid, stream };
    assert_eq!(
        got,
        vec![
            (1, Asap, sctp(11, 0)),
            (1, Enrp, sctp(12, 1)),
            (2, Asap, sctp(0xfaee_b5d1, 0)),
            (2, Asap, sctp(0, 2)),
            (3, Enrp, sctp(0, 0)),
        ]
    );
    assert_eq!(x.messages[1].bytes, enrp);
    assert_eq!(
        x.messages[0].src,
        SocketAddr::new(A, 5000),
        "addresses come from IP and the SCTP common header"
    );
    assert!(x.diagnostics.is_empty());
}

#[test]
fn sctp_fragments_reassemble_in_and_out_of_order() {
    let big = msg(0x0d, 2000);
    let (a, rest) = big.split_at(700);
    let (b, c) = rest.split_at(700);
    let frag = |tsn, flags, data: &[u8]| {
        sctp_packet(5000, 3863, &[synth::sctp_data(tsn, 3, 9, 11, flags, data)])
    };
    // In order, then the same message with TSNs arriving 3, 1, 2.
    let packets = [
        frag(10, data_flags::BEGIN, a),
        frag(11, 0, b),
        frag(12, data_flags::END, c),
        frag(22, data_flags::END, c),
        frag(20, data_flags::BEGIN, a),
        frag(21, 0, b),
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(bytes(&x), vec![big.clone(), big]);
    assert_eq!(x.messages[0].frame, 3);
    assert_eq!(x.messages[1].frame, 6);
    assert_eq!(
        x.messages[0].carrier,
        Carrier::Sctp {
            ppid: 11,
            stream: 3
        }
    );
    assert!(x.diagnostics.is_empty());
}

#[test]
fn sctp_retransmissions_and_unfinished_fragments() {
    let m = msg(0x05, 8);
    let packets = [
        sctp_packet(
            5000,
            3863,
            &[synth::sctp_data(1, 0, 0, 11, data_flags::WHOLE, &m)],
        ),
        sctp_packet(
            5000,
            3863,
            &[synth::sctp_data(1, 0, 0, 11, data_flags::WHOLE, &m)],
        ),
        sctp_packet(
            5000,
            3863,
            &[synth::sctp_data(2, 4, 1, 11, data_flags::BEGIN, &m)],
        ),
        // The same TSN in another association is not a repeat.
        synth::ip(
            A,
            B,
            132,
            &synth::sctp(5001, 3863, 0x1234, &[synth::sctp_data(1, 0, 0, 11, 3, &m)]),
        ),
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(x.messages.len(), 2);
    assert_eq!(x.messages[1].frame, 4);
    let k = kinds(&x);
    assert_eq!(k.len(), 2);
    assert!(matches!(k[0], DiagnosticKind::SctpDuplicate { tsn: 1, .. }));
    assert_eq!(x.diagnostics[0].frame, Some(2));
    assert!(matches!(
        k[1],
        DiagnosticKind::SctpIncomplete {
            stream: 4,
            bytes: 12,
            ..
        }
    ));
}

#[test]
fn sctp_idata_fragments_reassemble() {
    let big = msg(0x06, 100);
    let (a, rest) = big.split_at(40);
    let (b, c) = rest.split_at(40);
    let packets = [
        sctp_packet(
            5000,
            3863,
            &[synth::sctp_idata(5, 2, 77, 2, data_flags::END, c)],
        ),
        sctp_packet(
            5000,
            3863,
            &[synth::sctp_idata(3, 2, 77, 11, data_flags::BEGIN, a)],
        ),
        sctp_packet(5000, 3863, &[synth::sctp_idata(4, 2, 77, 1, 0, b)]),
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(bytes(&x), vec![big]);
    assert_eq!(
        x.messages[0].carrier,
        Carrier::Sctp {
            ppid: 11,
            stream: 2
        }
    );
    assert!(x.diagnostics.is_empty());
}

#[test]
fn sctp_damaged_chunks_are_reported_after_the_good_ones() {
    let m = msg(0x05, 8);
    let mut chunks = vec![synth::sctp_data(1, 0, 0, 11, data_flags::WHOLE, &m)];
    chunks.push(vec![0, 3, 0, 200, 1, 2, 3, 4]); // claims 200 bytes
    let bad_length = vec![0, 3, 0, 2, 0, 0, 0, 0];
    let x = extract(&raw_pcap(&[
        sctp_packet(5000, 3863, &chunks),
        sctp_packet(5000, 3863, &[bad_length]),
        synth::ip(A, B, 132, &[0; 8]),
    ]));
    assert_eq!(bytes(&x), vec![m]);
    let k = kinds(&x);
    assert!(matches!(
        k[0],
        DiagnosticKind::Truncated { needed: 240, .. }
    ));
    assert!(matches!(k[1], DiagnosticKind::Malformed { .. }));
    assert!(matches!(
        k[2],
        DiagnosticKind::Truncated {
            needed: 12,
            available: 8,
            ..
        }
    ));
}

#[test]
fn tcp_stream_framing_across_and_within_segments() {
    let m1 = msg(0x01, 40);
    let m2 = msg(0x03, 10);
    let m3 = msg(0x05, 3);
    let mut stream = m1.clone();
    stream.extend_from_slice(&m2);
    stream.extend_from_slice(&m3);
    let isn: u32 = 0xffff_fff0; // sequence numbers wrap inside the stream
    let data = isn.wrapping_add(1);
    let packets = [
        tcp_seg(isn, tcp_flags::SYN, &[]),
        tcp_seg(data, tcp_flags::ACK, &stream[..30]),
        tcp_seg(data.wrapping_add(30), tcp_flags::ACK, &stream[30..50]),
        tcp_seg(
            data.wrapping_add(50),
            tcp_flags::ACK | tcp_flags::FIN,
            &stream[50..],
        ),
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(bytes(&x), vec![m1, m2, m3]);
    assert_eq!(
        x.messages.iter().map(|m| m.frame).collect::<Vec<_>>(),
        vec![3, 4, 4]
    );
    assert_eq!(x.messages[0].carrier, Carrier::Tcp);
    assert_eq!(x.messages[0].protocol, Protocol::Asap);
    assert!(x.diagnostics.is_empty(), "{:?}", x.diagnostics);
}

#[test]
fn tcp_out_of_order_and_retransmitted_segments() {
    let msgs: Vec<_> = (1..=4).map(|k| msg(k, 16)).collect();
    let stream: Vec<u8> = msgs.concat();
    let seg =
        |from: usize, to: usize| tcp_seg(101 + from as u32, tcp_flags::ACK, &stream[from..to]);
    let packets = [
        tcp_seg(100, tcp_flags::SYN, &[]),
        seg(0, 20),
        seg(40, 60), // early
        seg(0, 20),  // retransmission
        seg(10, 40), // overlaps old and new bytes
        seg(60, 80),
        seg(40, 60), // retransmission of an already buffered segment
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(bytes(&x), msgs);
    assert_eq!(
        x.messages.iter().map(|m| m.frame).collect::<Vec<_>>(),
        // A message released by filling a hole belongs to the filling frame.
        vec![2, 5, 5, 6]
    );
    assert!(x.diagnostics.is_empty(), "{:?}", x.diagnostics);
}

#[test]
fn tcp_gap_is_reported_and_framing_resumes() {
    let msgs: Vec<_> = (1..=3).map(|k| msg(k, 16)).collect();
    let stream: Vec<u8> = msgs.concat();
    let packets = [
        tcp_seg(100, tcp_flags::SYN, &[]),
        tcp_seg(101, tcp_flags::ACK, &stream[..20]),
        // stream[20..40] was never captured
        tcp_seg(141, tcp_flags::ACK, &stream[40..]),
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(bytes(&x), vec![msgs[0].clone(), msgs[2].clone()]);
    let k = kinds(&x);
    assert_eq!(k.len(), 1);
    assert!(matches!(k[0], DiagnosticKind::TcpGap { missing: 20, .. }));
    assert_eq!(x.diagnostics[0].frame, Some(3));
}

#[test]
fn tcp_framing_error_ends_that_stream_only() {
    let good = msg(0x01, 8);
    let mut bad = good.clone();
    bad.extend_from_slice(&[0x02, 0, 0, 2, 0, 0, 0, 0]); // length 2
    bad.extend_from_slice(&good);
    let other = synth::ip(B, A, 6, &synth::tcp(3863, 40000, 500, tcp_flags::SYN, &[]));
    let reply = synth::ip(
        B,
        A,
        6,
        &synth::tcp(3863, 40000, 501, tcp_flags::ACK, &good),
    );
    let packets = [
        tcp_seg(100, tcp_flags::SYN, &[]),
        tcp_seg(101, tcp_flags::ACK, &bad),
        tcp_seg(101 + bad.len() as u32, tcp_flags::ACK, &good), // ignored: stream is dead
        other,
        reply,
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(bytes(&x), vec![good.clone(), good]);
    assert_eq!(x.messages[1].frame, 5);
    let k = kinds(&x);
    assert_eq!(k.len(), 1);
    assert!(matches!(k[0], DiagnosticKind::TcpFraming { length: 2, .. }));
}

#[test]
fn tcp_mid_stream_pickup_and_cut_messages() {
    let m = msg(0x07, 12);
    let packets = [
        tcp_seg(5000, tcp_flags::ACK, &m),
        tcp_seg(5000 + m.len() as u32, tcp_flags::ACK, &m[..6]),
    ];
    let x = extract(&raw_pcap(&packets));
    assert_eq!(bytes(&x), vec![m]);
    let k = kinds(&x);
    assert!(matches!(k[0], DiagnosticKind::TcpMidStream { .. }));
    assert!(matches!(
        k[1],
        DiagnosticKind::TcpIncomplete { bytes: 6, .. }
    ));
}

#[test]
fn tcp_on_other_ports_is_ignored() {
    let m = msg(0x01, 8);
    let packet = synth::ip(A, B, 6, &synth::tcp(40000, 80, 1, tcp_flags::ACK, &m));
    let x = extract(&raw_pcap(&[packet]));
    assert!(x.messages.is_empty() && x.diagnostics.is_empty());
}

#[test]
fn udp_length_and_truncation() {
    let m = msg(0x0a, 8);
    let mut short = udp_announce(&m);
    short.truncate(short.len() - 3); // IP still claims the full length
    let mut trailing = synth::udp(3863, 3863, &m);
    trailing.extend_from_slice(&[0xee; 4]); // beyond the UDP length: ignored
    let trailing = synth::ip(A, B, 17, &trailing);
    let x = extract(&raw_pcap(&[short, trailing]));
    assert_eq!(bytes(&x), vec![m]);
    assert_eq!(x.messages[0].frame, 2);
    assert!(matches!(
        kinds(&x)[..],
        [DiagnosticKind::Truncated {
            needed: 40,
            available: 37,
            ..
        }]
    ));
}

#[test]
fn garbage_and_truncated_files_do_not_panic() {
    let m = msg(0x0a, 8);
    let good = synth::pcap(Endian::Big, true, RAW, &[(ts(1, 0), udp_announce(&m))]);
    for cut in 0..good.len() {
        let x = extract(&good[..cut]);
        assert!(x.messages.is_empty(), "cut at {cut}");
        // A file header without records is a valid empty capture.
        if cut > 0 && cut != 24 {
            assert!(
                x.diagnostics
                    .iter()
                    .any(|d| d.severity() == Severity::Error),
                "cut at {cut}"
            );
        }
    }
    let mut w = synth::Pcapng::new(Endian::Little);
    w.interface(101, None).epb(0, 1, &udp_announce(&m));
    let ng = w.into_bytes();
    for cut in 1..ng.len() {
        let _ = extract(&ng[..cut]);
    }
    assert!(matches!(
        kinds(&extract(b"GIF89a..."))[..],
        [DiagnosticKind::UnknownFileFormat { .. }]
    ));
    // Every byte value at every position of a small capture.
    for at in 0..good.len() {
        for v in [0u8, 0x7f, 0xff] {
            let mut bad = good.clone();
            bad[at] = v;
            let _ = extract(&bad);
        }
    }
    for at in 0..ng.len() {
        let mut bad = ng.clone();
        bad[at] ^= 0xff;
        let _ = extract(&bad);
    }
}

#[test]
fn pcapng_frames_are_numbered_as_wireshark_numbers_them() {
    // tshark 4.0 lists journal entries and custom blocks as frames of their
    // own, but not name resolution, interface statistics or secrets blocks.
    let m = msg(0x0a, 8);
    let p = udp_announce(&m);
    let mut w = synth::Pcapng::new(Endian::Little);
    w.interface(101, None)
        .epb(0, 1, &p)
        .block(4, &[1, 0, 4, 0, 192, 0, 2, 1, 0, 0, 0, 0]) // NRB
        .epb(0, 2, &p)
        .block(5, &[0; 12]) // ISB
        .block(0x0a, &[0x4b, 0x53, 0x4c, 0x54, 0, 0, 0, 0]) // DSB
        .epb(0, 3, &p)
        .block(9, b"MESSAGE=hi\n") // systemd journal export
        .epb(0, 4, &p)
        .block(0x4000_0bad, &[0, 0, 0x7e, 0x1b]) // custom block
        .epb(0, 5, &p);
    let x = extract(w.bytes());
    let frames: Vec<u64> = x.messages.iter().map(|m| m.frame).collect();
    assert_eq!(frames, vec![1, 2, 3, 5, 7]);
    assert!(x.diagnostics.is_empty());
}

#[test]
fn pcapng_packet_on_an_undefined_interface_keeps_numbering() {
    let m = msg(0x0a, 8);
    let mut w = synth::Pcapng::new(Endian::Little);
    w.interface(101, None)
        .epb(3, 1, &udp_announce(&m))
        .epb(0, 2, &udp_announce(&m));
    let x = extract(w.bytes());
    assert_eq!(
        x.messages.iter().map(|m| m.frame).collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(
        kinds(&x),
        vec![&DiagnosticKind::UnknownInterface { interface: 3 }]
    );
}

#[test]
fn captured_message_carries_what_inspect_prints() {
    let m = msg(0x0a, 8);
    let x = extract(&raw_pcap(&[udp_announce(&m)]));
    let expected = CapturedMessage {
        frame: 1,
        timestamp: ts(1000, 0),
        src: SocketAddr::new(A, 3863),
        dst: SocketAddr::new(B, 3863),
        carrier: Carrier::Udp,
        protocol: Protocol::Asap,
        bytes: m,
    };
    assert_eq!(x.messages, vec![expected]);
    assert_eq!(ts(1000, 5).to_string(), "1000.000000005");
}

/// A small deterministic generator, so that failures are reproducible.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[test]
fn tcp_any_segmentation_order_and_repetition_yields_the_same_messages() {
    let msgs: Vec<Vec<u8>> = (0..40)
        .map(|i| msg((i % 14 + 1) as u8, i * 3 % 50))
        .collect();
    let stream = msgs.concat();
    let mut rng = Lcg(7);
    for round in 0..200 {
        // Cut the stream at random places.
        let mut cuts = vec![0];
        while *cuts.last().unwrap() < stream.len() {
            let next = cuts.last().unwrap() + 1 + rng.below(60);
            cuts.push(next.min(stream.len()));
        }
        let isn = rng.below(usize::MAX) as u32;
        let mut segments: Vec<Vec<u8>> = cuts
            .windows(2)
            .map(|w| {
                let seq = isn.wrapping_add(1).wrapping_add(w[0] as u32);
                tcp_seg(seq, tcp_flags::ACK, &stream[w[0]..w[1]])
            })
            .collect();
        // Swap neighbours and repeat some segments, as networks do.
        for i in 1..segments.len() {
            if rng.below(3) == 0 {
                segments.swap(i - 1, i);
            }
        }
        for _ in 0..rng.below(5) {
            let i = rng.below(segments.len());
            let copy = segments[i].clone();
            segments.insert(rng.below(segments.len()), copy);
        }
        let mut packets = vec![tcp_seg(isn, tcp_flags::SYN, &[])];
        packets.extend(segments);
        let x = extract(&raw_pcap(&packets));
        assert_eq!(bytes(&x), msgs, "round {round}");
        assert!(
            x.diagnostics.is_empty(),
            "round {round}: {:?}",
            x.diagnostics
        );
    }
}

#[test]
fn sctp_fragments_in_any_order_yield_the_same_messages() {
    let msgs: Vec<Vec<u8>> = (0..12).map(|i| msg(6, 20 + i * 37)).collect();
    let mut rng = Lcg(11);
    for round in 0..100 {
        // Fragment every message at random sizes, TSNs consecutive.
        let mut chunks = Vec::new();
        let mut tsn: u32 = 0xffff_fff0; // TSNs wrap too
        for (ssn, m) in msgs.iter().enumerate() {
            let mut at = 0;
            while at < m.len() {
                let end = (at + 8 + rng.below(80)).min(m.len());
                let mut flags = 0;
                if at == 0 {
                    flags |= data_flags::BEGIN;
                }
                if end == m.len() {
                    flags |= data_flags::END;
                }
                chunks.push(synth::sctp_data(tsn, 1, ssn as u16, 11, flags, &m[at..end]));
                tsn = tsn.wrapping_add(1);
                at = end;
            }
        }
        // Deliver in a shuffled order, several chunks per packet.
        for i in (1..chunks.len()).rev() {
            chunks.swap(i, rng.below(i + 1));
        }
        let packets: Vec<Vec<u8>> = chunks
            .chunks(3)
            .map(|group| sctp_packet(5000, 3863, group))
            .collect();
        let x = extract(&raw_pcap(&packets));
        let mut got = bytes(&x);
        got.sort_by_key(|m| m.len());
        assert_eq!(got, msgs, "round {round}");
        assert!(
            x.diagnostics.is_empty(),
            "round {round}: {:?}",
            x.diagnostics
        );
    }
}

/// Hands out at most `step` bytes per read, then fails at `fail_at`.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    fail_at: usize,
    pos: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.fail_at {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf
            .len()
            .min(self.step)
            .min(self.data.len() - self.pos)
            .min(self.fail_at - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn streams_read_piecewise_and_read_errors_end_the_file() {
    let m = msg(0x0a, 8);
    let mut w = synth::Pcapng::new(Endian::Big);
    w.interface(101, None);
    let mut ends = Vec::new();
    for i in 0..5 {
        w.epb(0, i, &udp_announce(&m));
        ends.push(w.bytes().len());
    }
    let file = w.into_bytes();
    let whole = rserpool_capture::extract_reader(Trickle {
        data: &file,
        step: 3,
        fail_at: usize::MAX,
        pos: 0,
    });
    assert_eq!(whole.messages.len(), 5);
    assert!(whole.diagnostics.is_empty());
    // The error strikes inside the third packet block.
    let fail_at = ends[1] + 10;
    let cut = rserpool_capture::extract_reader(Trickle {
        data: &file,
        step: 1000,
        fail_at,
        pos: 0,
    });
    assert_eq!(cut.messages.len(), 2);
    assert_eq!(
        kinds(&cut),
        vec![&DiagnosticKind::ReadError {
            offset: fail_at as u64,
            message: "disk on fire".into()
        }]
    );
    assert_eq!(cut.diagnostics[0].severity(), Severity::Error);
}

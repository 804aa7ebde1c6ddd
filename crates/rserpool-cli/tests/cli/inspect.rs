//! `rserpool inspect` run as a user would: on the real RSPLIB capture and on
//! crafted captures with broken messages.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Output};

use rserpool_capture::Timestamp;
use rserpool_capture::bytes::Endian;
use rserpool_capture::synth::{self, data_flags, tcp_flags};
use rserpool_proto::wire::asap::{EndpointKeepAliveAck, HandleResolution, ServerAnnounce};
use rserpool_proto::wire::{Message, PeId, PoolHandle, ServerId};

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/rsplib-demo.pcapng"
);

/// tshark 4.0's message counts for the capture (captures/README.md).
const TSHARK_COUNTS: [(&str, u64); 15] = [
    ("ASAP HANDLE_RESOLUTION", 371),
    ("ASAP HANDLE_RESOLUTION_RESPONSE", 371),
    ("ASAP SERVER_ANNOUNCE", 31),
    ("ASAP ENDPOINT_KEEP_ALIVE", 20),
    ("ASAP ENDPOINT_KEEP_ALIVE_ACK", 20),
    ("ENRP PRESENCE", 15),
    ("ASAP COOKIE", 6),
    ("ASAP REGISTRATION", 4),
    ("ASAP REGISTRATION_RESPONSE", 4),
    ("ASAP DEREGISTRATION", 4),
    ("ASAP DEREGISTRATION_RESPONSE", 4),
    ("ENRP LIST_REQUEST", 2),
    ("ENRP LIST_RESPONSE", 1),
    ("ENRP HANDLE_TABLE_REQUEST", 1),
    ("ENRP HANDLE_TABLE_RESPONSE", 1),
];

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .arg("inspect")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The per-type lines of the summary: "  ASAP REGISTRATION   4".
fn summary_counts(text: &str) -> BTreeMap<String, u64> {
    let summary = text.split("Summary:").nth(1).unwrap();
    summary
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (
                format!("{} {}", words[0], words[1]),
                words[2].parse().unwrap(),
            )
        })
        .collect()
}

fn tshark_counts() -> BTreeMap<String, u64> {
    TSHARK_COUNTS
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
}

#[test]
fn verify_passes_on_the_real_capture_with_tsharks_counts() {
    let o = inspect(&["--verify", CAPTURE]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert_eq!(summary_counts(&text), tshark_counts());
    assert!(
        text.contains("verified 855, differing 0, malformed 0"),
        "{text}"
    );
    // Nothing but the summary: no message differs.
    assert!(text.starts_with("Summary: 855 messages"), "{text}");
}

#[test]
fn default_output_has_one_line_per_message_and_a_summary() {
    let o = inspect(&[CAPTURE]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 855);
    // Frame, time relative to the first packet (as tshark shows it), addresses.
    assert_eq!(
        lines[0],
        "    24   2.485324990 10.255.255.1:45471 -> 10.255.255.1:3863 sctp ASAP REGISTRATION \
         handle=PingPongPool pe=0xb5fcd72d home=0x00000000 life=90000ms policy=RoundRobin \
         transport=sctp:10.255.255.1:58430"
    );
    assert!(lines.iter().any(|l| l.contains(" udp ENRP PRESENCE ")));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("HANDLE_TABLE_RESPONSE") && l.contains("pools=3 pes=4"))
    );
    assert_eq!(summary_counts(&text), tshark_counts());
}

#[test]
fn json_lines_parse_and_carry_protocol_and_type() {
    let o = inspect(&["--json", CAPTURE]);
    assert_eq!(o.status.code(), Some(0));
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let protocol = v["protocol"].as_str().unwrap();
        assert!(protocol == "asap" || protocol == "enrp");
        let key = format!(
            "{} {}",
            protocol.to_uppercase(),
            v["type"].as_str().unwrap()
        );
        *counts.entry(key).or_default() += 1;
        assert!(v["frame"].as_u64().unwrap() >= 24);
        assert!(v["time"].as_str().unwrap().starts_with("17957"));
        assert!(v["message"].is_object(), "{line}");
    }
    assert_eq!(counts, tshark_counts());
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["frame"], 24);
    assert_eq!(first["time_relative"], "2.485324990");
    assert_eq!(first["src"], "10.255.255.1:45471");
    assert_eq!(first["carrier"], "sctp");
    assert_eq!(first["ppid"], 11);
    assert_eq!(first["message"]["pool_handle"], "PingPongPool");
}

/// A pcap of SCTP packets to port 3863, one ASAP message each, PPID 11.
fn crafted_capture(name: &str, messages: &[Vec<u8>]) -> PathBuf {
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let frames: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let chunk = synth::sctp_data(i as u32, 0, i as u16, 11, data_flags::WHOLE, m);
            let packet = synth::ip(a, b, 132, &synth::sctp(40000, 3863, 7, &[chunk]));
            (Timestamp::new(100 + i as i64, 0), packet)
        })
        .collect();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, synth::pcap(Endian::Little, false, 101, &frames)).unwrap();
    path
}

fn resolution(handle: &str) -> Vec<u8> {
    Message::from(HandleResolution {
        pool_handle: PoolHandle::from(handle),
        items: None,
    })
    .to_bytes()
    .unwrap()
}

#[test]
fn a_malformed_message_is_reported_and_the_run_continues() {
    let ack = Message::from(EndpointKeepAliveAck {
        pool_handle: PoolHandle::from("EchoPool"),
        pe_id: PeId(0x1234_5678),
    })
    .to_bytes()
    .unwrap();
    // The PE Identifier parameter claims 40 bytes where 8 remain.
    let mut broken = ack.clone();
    let pe_param = broken.len() - 8;
    broken[pe_param + 3] = 40;
    let path = crafted_capture(
        "malformed.pcap",
        &[resolution("EchoPool"), broken, resolution("DaytimePool")],
    );
    let path = path.to_str().unwrap();

    let o = inspect(&[path]);
    let text = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "decoding problems alone do not fail a plain run"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("HANDLE_RESOLUTION handle=EchoPool"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("     2 ") && lines[1].contains("ENDPOINT_KEEP_ALIVE_ACK MALFORMED: "),
        "{text}"
    );
    assert!(
        lines[2].contains("HANDLE_RESOLUTION handle=DaytimePool"),
        "{text}"
    );
    assert!(text.contains("malformed 1"), "{text}");

    let o = inspect(&["--verify", path]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("verified 2, differing 0, malformed 1"),
        "{text}"
    );

    let o = inspect(&["--json", path]);
    let objects: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[1]["type"], "ENDPOINT_KEEP_ALIVE_ACK");
    assert!(objects[1]["error"].as_str().unwrap().contains("parameter"));
    assert_eq!(objects[2]["message"]["pool_handle"], "DaytimePool");
}

#[test]
fn verify_reports_where_a_re_encoding_differs() {
    // A Handle Resolution whose length field leaves out the last
    // parameter's padding: RFC 5354 allows it, this encoder (like RSPLIB)
    // counts the padding, so the bytes differ in the length field.
    let mut unpadded = vec![0x05, 0x00, 0x00, 13, 0x00, 0x09, 0x00, 0x09];
    unpadded.extend_from_slice(b"Echo1");
    let path = crafted_capture("differs.pcap", &[resolution("EchoPool"), unpadded]);
    let o = inspect(&["--verify", path.to_str().unwrap()]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("HANDLE_RESOLUTION handle=Echo1"), "{text}");
    assert!(
        text.contains(
            "re-encoding differs at offset 3: captured 0x0d, encoded 0x10 \
             (captured 13 bytes, encoded 16)"
        ),
        "{text}"
    );
    assert!(
        text.contains("verified 1, differing 1, malformed 0"),
        "{text}"
    );
}

#[test]
fn tcp_streams_and_udp_announces_are_decoded_too() {
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let mut stream = resolution("EchoPool");
    stream.extend_from_slice(&resolution("DaytimePool"));
    let announce = Message::from(ServerAnnounce {
        server_id: ServerId(7),
        transports: Vec::new(),
    })
    .to_bytes()
    .unwrap();
    let tcp = |seq: u32, flags: u8, data: &[u8]| {
        synth::ip(a, b, 6, &synth::tcp(40000, 3863, seq, flags, data))
    };
    let packets = [
        tcp(1000, tcp_flags::SYN, &[]),
        // The first message and half of the second; then the rest.
        tcp(1001, tcp_flags::ACK, &stream[..20]),
        tcp(1021, tcp_flags::ACK, &stream[20..]),
        synth::ip(b, a, 17, &synth::udp(3863, 3863, &announce)),
    ];
    let frames: Vec<_> = packets
        .into_iter()
        .enumerate()
        .map(|(i, p)| (Timestamp::new(50, i as u32 * 1000), p))
        .collect();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tcp-udp.pcap");
    std::fs::write(&path, synth::pcap(Endian::Big, true, 101, &frames)).unwrap();
    let o = inspect(&["--verify", "--verbose", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let o = inspect(&[path.to_str().unwrap()]);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "     2   0.000001000 192.0.2.1:40000 -> 192.0.2.2:3863 tcp ASAP HANDLE_RESOLUTION handle=EchoPool",
            "     3   0.000002000 192.0.2.1:40000 -> 192.0.2.2:3863 tcp ASAP HANDLE_RESOLUTION handle=DaytimePool",
            "     4   0.000003000 192.0.2.2:3863 -> 192.0.2.1:3863 udp ASAP SERVER_ANNOUNCE server=0x00000007",
        ],
        "{text}"
    );
}

#[test]
fn an_unreadable_file_is_an_error() {
    let o = inspect(&["/nonexistent/capture.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("/nonexistent/capture.pcap"), "{err}");
}

#[test]
fn what_is_not_a_capture_fails_with_a_sentence() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let text = dir.join("not-a-capture.txt");
    std::fs::write(&text, "hello, this is text\n").unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let folder = dir.join("a-folder.pcap");
    std::fs::create_dir_all(&folder).unwrap();
    for path in [&text, &empty, &folder] {
        for verify in [false, true] {
            let mut args = vec![path.to_str().unwrap()];
            if verify {
                args.insert(0, "--verify");
            }
            let o = inspect(&args);
            assert_eq!(o.status.code(), Some(2), "{path:?} {o:?}");
            let err = String::from_utf8(o.stderr.clone()).unwrap();
            assert!(
                err.contains("is not a readable pcap or pcapng capture"),
                "{err}"
            );
            assert!(stdout(&o).is_empty(), "no summary for a non-capture");
        }
    }
}

#[test]
fn a_registrar_on_other_ports_is_hinted_at_and_found_with_port_options() {
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let stream = resolution("EchoPool");
    let tcp = |seq: u32, flags: u8, data: &[u8]| {
        synth::ip(a, b, 6, &synth::tcp(40000, 13863, seq, flags, data))
    };
    let packets = [
        tcp(1000, tcp_flags::SYN, &[]),
        tcp(1001, tcp_flags::ACK, &stream),
    ];
    let frames: Vec<_> = packets
        .into_iter()
        .enumerate()
        .map(|(i, p)| (Timestamp::new(50, i as u32 * 1000), p))
        .collect();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tcp-13863.pcap");
    std::fs::write(&path, synth::pcap(Endian::Big, true, 101, &frames)).unwrap();
    let o = inspect(&[path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert!(
        stdout(&o).contains("Summary: 0 messages in 2 frames"),
        "{}",
        stdout(&o)
    );
    assert!(err.contains("--asap-port"), "{err}");
    let o = inspect(&["--asap-port", "13863", "--verify", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("Summary: 1 messages in 2 frames"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("verified 1, differing 0, malformed 0"));
}

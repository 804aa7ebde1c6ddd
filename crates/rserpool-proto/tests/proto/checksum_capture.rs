//! The handlespace checksum equals what RSPLIB announces in ENRP Presence.

use rserpool_proto::handlespace::checksum::compute;
use rserpool_proto::wire::PeId;

#[test]
fn matches_the_presence_checksum_of_the_rsplib_capture() {
    // The four PEs registered in testdata/rsplib-demo.pcapng (frames 24-35);
    // its registrar then announces PE Checksum 0x1615 (frame 51).
    let pes: [(&[u8], u32); 4] = [
        (b"PingPongPool", 0xb5fc_d72d),
        (b"DaytimePool", 0xf4ec_f666),
        (b"EchoPool", 0xc01f_83de),
        (b"EchoPool", 0x18f4_9396),
    ];
    let sum = compute(pes.iter().map(|(h, id)| (*h, PeId(*id))));
    assert_eq!(sum.0, 0x1615);
}

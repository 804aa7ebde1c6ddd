//! The reader on damaged captures: the real RSPLIB capture's first frames
//! with bytes overwritten, bits flipped, ranges cut out or repeated, and
//! the file cut short, under a fixed seed. Whatever the damage, reading
//! ends with messages and diagnostics, never a panic. (The fuzz target `capture`
//! explores the same space without a seed's limits.)

use rserpool_capture::extract;

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/rsplib-demo.pcapng"
);

/// xorshift64*: enough to spread the damage; the seed fixes the run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn damage(rng: &mut Rng, file: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(file.len());
        match rng.below(5) {
            0 => file[at] = rng.next() as u8,
            1 => file[at] ^= 1 << rng.below(8),
            2 => {
                let end = (at + 1 + rng.below(64)).min(file.len());
                file.drain(at..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(file.len());
                let copy = file[at..end].to_vec();
                file.splice(at..at, copy);
            }
            _ => file.truncate(at),
        }
        if file.is_empty() {
            return;
        }
    }
}

#[test]
fn damaged_captures_are_read_without_panicking() {
    let whole = std::fs::read(CAPTURE).unwrap();
    // The first 24 KB: the section header, interfaces and the first frames
    // (registrations, resolutions, announces over SCTP and UDP).
    let head = &whole[..whole.len().min(24 * 1024)];
    let clean = extract(head);
    assert!(!clean.messages.is_empty(), "the head holds messages");
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut with_messages = 0;
    for _ in 0..5000 {
        let mut file = head.to_vec();
        damage(&mut rng, &mut file);
        let x = extract(&file);
        for m in &x.messages {
            // Over SCTP a message is a DATA chunk's payload, whatever its
            // header claims (the decoder judges that); it is never empty and
            // names a frame (1-based, as Wireshark numbers them).
            assert!(m.frame >= 1);
            assert!(!m.bytes.is_empty());
        }
        with_messages += usize::from(!x.messages.is_empty());
    }
    // Most damage leaves most of the file readable.
    assert!(
        with_messages > 1500,
        "{with_messages} of 5000 runs found messages"
    );
}

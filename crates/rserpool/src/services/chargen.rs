//! `chargen`: a message `N` is answered with N lines of the RFC 864
//! rotating pattern (72 printable characters per line).

use crate::pool_element::{ServerSession, SessionMessage};
use std::io;

const MAX_LINES: usize = 1000;

pub async fn serve(mut s: ServerSession) -> io::Result<()> {
    let mut offset = 0usize;
    while let Some(m) = s.recv().await? {
        if let SessionMessage::Data(f) = m {
            let n = std::str::from_utf8(&f.payload)
                .ok()
                .and_then(|t| t.trim().parse::<usize>().ok())
                .unwrap_or(1)
                .clamp(1, MAX_LINES);
            let text = lines(offset, n);
            offset = (offset + n) % 95;
            s.send(f.ppid, text).await?;
        }
    }
    Ok(())
}

/// `n` lines starting at pattern offset `offset`.
pub fn lines(offset: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 73);
    for i in 0..n {
        let start = (offset + i) % 95;
        out.extend((0..72).map(|j| b' ' + ((start + j) % 95) as u8));
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_rotate_through_printable_ascii() {
        let l = super::lines(0, 2);
        assert_eq!(l.len(), 146);
        assert_eq!(&l[..3], b" !\"");
        assert_eq!(&l[73..76], b"!\"#");
        assert!(l.iter().all(|c| *c == b'\n' || (0x20..0x7f).contains(c)));
    }
}

//! The generator's TCP endpoints: one task per association that both
//! sends on its timer and reads answers, with its own framing buffer (no
//! lock, no second task, no zero-filling per read).

use super::{Shared, Stats, Window, resolution_ok};
use rserpool_proto::wire::asap::{flags, msg_type};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};

/// Room kept free for each read.
const MIN_READ: usize = 2048;
/// ASAP common header: type, flags, 16-bit length.
const HEADER: usize = 4;

/// Received bytes not yet handed out as whole messages.
#[derive(Debug)]
pub struct Frames {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for Frames {
    fn default() -> Self {
        Frames {
            buf: vec![0; 4 * MIN_READ],
            start: 0,
            end: 0,
        }
    }
}

impl Frames {
    /// Length of the next message, if its header is in.
    fn declared(&self) -> Option<usize> {
        let avail = &self.buf[self.start..self.end];
        (avail.len() >= HEADER).then(|| usize::from(u16::from_be_bytes([avail[2], avail[3]])))
    }

    /// Space to read into: at least `MIN_READ` bytes and room for the
    /// whole of the next message.
    pub fn spare(&mut self) -> &mut [u8] {
        let held = self.end - self.start;
        let need = held.max(self.declared().unwrap_or(0)) + MIN_READ;
        if self.buf.len() - self.start < need {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = held;
        }
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Declares `n` bytes of the last [`Frames::spare`] filled.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The next whole message, if it is all in.
    pub fn next(&mut self) -> Result<Option<&[u8]>, String> {
        let Some(len) = self.declared() else {
            return Ok(None);
        };
        if len < HEADER {
            return Err(format!(
                "message length {len} is below the header's 4 bytes"
            ));
        }
        if self.end - self.start < len {
            return Ok(None);
        }
        let m = &self.buf[self.start..self.start + len];
        self.start += len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(Some(m))
    }
}

/// A TCP association to a registrar with its framing state.
#[derive(Debug)]
pub struct Link {
    stream: TcpStream,
    frames: Frames,
}

/// What an endpoint plays.
#[derive(Debug)]
pub enum Role {
    Pe {
        /// Its Endpoint Keep-Alive Ack.
        ack: Vec<u8>,
        registrar: usize,
    },
    Pu,
}

impl Link {
    pub async fn connect(target: SocketAddr, within: Duration) -> Result<Link, String> {
        let stream = timeout(within, TcpStream::connect(target))
            .await
            .map_err(|_| format!("connecting to {target}: timed out"))?
            .map_err(|e| format!("connecting to {target}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("connecting to {target}: {e}"))?;
        // Closed with a reset at the end of a run: thousands of PEs closing
        // normally would leave as many TIME_WAIT ports behind, and a few
        // runs in a row would exhaust the generator's ephemeral ports.
        stream
            .set_zero_linger()
            .map_err(|e| format!("connecting to {target}: {e}"))?;
        Ok(Link {
            stream,
            frames: Frames::default(),
        })
    }

    /// Sends the first Registration and waits for its acceptance,
    /// answering keep-alives meanwhile.
    pub async fn register(
        &mut self,
        first: &[u8],
        ack: &[u8],
        within: Duration,
    ) -> Result<(), String> {
        let io = |e: std::io::Error| format!("registering: {e}");
        self.stream.write_all(first).await.map_err(io)?;
        let deadline = Instant::now() + within;
        loop {
            while let Some(m) = self.frames.next()? {
                match (m.first().copied(), m.get(1).copied()) {
                    (Some(msg_type::REGISTRATION_RESPONSE), Some(f)) if f & flags::REJECT != 0 => {
                        return Err("registering: rejected".into());
                    }
                    (Some(msg_type::REGISTRATION_RESPONSE), _) => return Ok(()),
                    (Some(msg_type::ENDPOINT_KEEP_ALIVE), _) => {
                        self.stream.write_all(ack).await.map_err(io)?
                    }
                    _ => {}
                }
            }
            let read = self.stream.read(self.frames.spare());
            let n = tokio::time::timeout_at(deadline, read)
                .await
                .map_err(|_| "registering: no answer".to_string())?
                .map_err(io)?;
            if n == 0 {
                return Err("registering: association closed".into());
            }
            self.frames.filled(n);
        }
    }

    /// Sends what `next` writes at `first`, `first + every`, ... until the
    /// window ends, and takes the answers, until aborted.
    pub async fn run(
        mut self,
        role: Role,
        stats: Shared<Stats>,
        window: Window,
        first: Instant,
        every: Duration,
        mut next: impl FnMut(&mut Vec<u8>),
    ) {
        let is_pe = matches!(role, Role::Pe { .. });
        let mut pending: VecDeque<Instant> = VecDeque::new();
        let mut out = Vec::new();
        let mut at = first;
        loop {
            tokio::select! {
                () = sleep_until(at), if at < window.end => {
                    let now = Instant::now();
                    out.clear();
                    next(&mut out);
                    pending.push_back(now);
                    stats.borrow_mut().count_sent(is_pe, &window, now);
                    if self.stream.write_all(&out).await.is_err() {
                        stats.borrow_mut().closed += 1;
                        return;
                    }
                    at = stats.borrow_mut().next_tick(at, every, now);
                }
                r = self.stream.read(self.frames.spare()) => {
                    match r {
                        Ok(n) if n > 0 => self.frames.filled(n),
                        _ => {
                            stats.borrow_mut().closed += 1;
                            return;
                        }
                    }
                    if self.answers(&role, &stats, &window, &mut pending).await.is_err() {
                        stats.borrow_mut().closed += 1;
                        return;
                    }
                }
            }
        }
    }

    /// Takes every whole message received.
    async fn answers(
        &mut self,
        role: &Role,
        stats: &Shared<Stats>,
        window: &Window,
        pending: &mut VecDeque<Instant>,
    ) -> Result<(), String> {
        loop {
            let now = Instant::now();
            let Some(m) = self.frames.next()? else {
                return Ok(());
            };
            match role {
                Role::Pe { ack, registrar } => match m.first().copied() {
                    Some(msg_type::REGISTRATION_RESPONSE) => {
                        let rejected = m.get(1).is_some_and(|f| f & flags::REJECT != 0);
                        let sent = pending.pop_front();
                        stats
                            .borrow_mut()
                            .registration_answered(window, sent, rejected, *registrar, now);
                    }
                    Some(msg_type::ENDPOINT_KEEP_ALIVE) => {
                        stats.borrow_mut().keepalives += 1;
                        self.stream
                            .write_all(ack)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    _ => {}
                },
                Role::Pu => {
                    if let Some(ok) = resolution_ok(m) {
                        let sent = pending.pop_front();
                        stats
                            .borrow_mut()
                            .resolution_answered(window, sent, ok, now);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(ty: u8, len: u16) -> Vec<u8> {
        let mut m = vec![ty, 0];
        m.extend_from_slice(&len.to_be_bytes());
        m.resize(usize::from(len), 0xab);
        m
    }

    fn feed(f: &mut Frames, bytes: &[u8]) {
        let spare = f.spare();
        spare[..bytes.len()].copy_from_slice(bytes);
        f.filled(bytes.len());
    }

    #[test]
    fn messages_split_and_joined_across_reads() {
        let mut f = Frames::default();
        let a = message(3, 12);
        let b = message(7, 8);
        let mut stream = a.clone();
        stream.extend_from_slice(&b);
        feed(&mut f, &stream[..5]);
        assert_eq!(f.next().unwrap(), None);
        feed(&mut f, &stream[5..15]);
        assert_eq!(f.next().unwrap(), Some(&a[..]));
        assert_eq!(f.next().unwrap(), None);
        feed(&mut f, &stream[15..]);
        assert_eq!(f.next().unwrap(), Some(&b[..]));
        assert_eq!(f.next().unwrap(), None);
    }

    #[test]
    fn a_large_message_grows_the_buffer() {
        let mut f = Frames::default();
        let big = message(6, 60_000);
        let mut fed = 0;
        while fed < big.len() {
            let room = f.spare().len().min(big.len() - fed);
            feed(&mut f, &big[fed..fed + room]);
            fed += room;
        }
        assert_eq!(f.next().unwrap().map(<[u8]>::len), Some(60_000));
    }

    #[test]
    fn many_messages_keep_the_buffer_small() {
        let mut f = Frames::default();
        let m = message(3, 100);
        for _ in 0..10_000 {
            feed(&mut f, &m[..60]);
            assert_eq!(f.next().unwrap(), None);
            feed(&mut f, &m[60..]);
            assert_eq!(f.next().unwrap(), Some(&m[..]));
        }
        assert!(f.buf.len() <= 4 * MIN_READ);
    }

    #[test]
    fn a_length_below_the_header_is_an_error() {
        let mut f = Frames::default();
        feed(&mut f, &[3, 0, 0, 2]);
        assert!(f.next().unwrap_err().contains("below"));
    }
}

//! The receive buffer under both stream framings (ASAP/ENRP messages in
//! [`wire::stream`](crate::wire::stream), data-channel frames in
//! [`data_channel`](crate::data_channel)): bytes are appended at the end
//! and whole frames consumed from the front. The consumed prefix is dropped
//! only when it is all of the buffer or large, so a busy stream does not
//! move memory on every frame.

/// A consumed prefix larger than this is dropped before more bytes come.
const COMPACT_AT: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct StreamBuf {
    buf: Vec<u8>,
    start: usize,
}

impl StreamBuf {
    pub(crate) fn with_capacity(n: usize) -> Self {
        StreamBuf {
            buf: Vec::with_capacity(n),
            start: 0,
        }
    }

    fn compact(&mut self) {
        if self.start > 0 && (self.start >= self.buf.len() || self.start > COMPACT_AT) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// The buffer to append received bytes to, compacted and with room for
    /// at least `want` more.
    pub(crate) fn buffer(&mut self, want: usize) -> &mut Vec<u8> {
        self.compact();
        self.buf.reserve(want);
        &mut self.buf
    }

    /// `want` zeroed bytes to read into; [`StreamBuf::filled`] keeps what
    /// was read.
    pub(crate) fn read_buf(&mut self, want: usize) -> &mut [u8] {
        self.compact();
        let len = self.buf.len();
        self.buf.resize(len + want, 0);
        self.buf.get_mut(len..).unwrap_or_default()
    }

    /// Keeps `n` of the `want` bytes handed out by the last `read_buf`.
    pub(crate) fn filled(&mut self, want: usize, n: usize) {
        let keep = self.buf.len().saturating_sub(want) + n.min(want);
        self.buf.truncate(keep);
    }

    /// Appends received bytes.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// The bytes received and not yet consumed.
    pub(crate) fn available(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// Consumes the next `n` bytes (at most what is available) and
    /// returns them.
    pub(crate) fn take(&mut self, n: usize) -> &[u8] {
        let begin = self.start;
        let end = (begin + n).min(self.buf.len());
        self.start = end;
        self.buf.get(begin..end).unwrap_or_default()
    }

    /// Bytes received but not yet consumed.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

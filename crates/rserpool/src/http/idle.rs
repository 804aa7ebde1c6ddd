//! An idle timeout for a whole connection: a stream wrapper that notes
//! when bytes last moved either way, and a future that ends once they
//! have not moved for a while. It catches clients that connect and say
//! nothing, keep a connection open unused, or stop reading a watch.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// A stream that records its progress.
#[derive(Debug)]
pub struct Watched<T> {
    inner: T,
    progress: Progress,
}

/// When bytes last moved on a [`Watched`] stream.
#[derive(Clone, Debug)]
pub struct Progress {
    origin: Instant,
    /// Milliseconds after `origin`.
    last: Arc<AtomicU64>,
}

impl Progress {
    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// Ends once no byte moved for `timeout`.
    pub async fn stalled(&self, timeout: Duration) {
        loop {
            let deadline = self.last() + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

impl<T> Watched<T> {
    pub fn new(inner: T) -> (Watched<T>, Progress) {
        let progress = Progress {
            origin: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        };
        (
            Watched {
                inner,
                progress: progress.clone(),
            },
            progress,
        )
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.progress.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn stalls_only_without_progress() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut w, progress) = Watched::new(a);
        let stalled = progress.clone();
        let mut stall = Box::pin(async move { stalled.stalled(Duration::from_secs(60)).await });
        // Traffic every 30 s keeps it alive.
        for _ in 0..4 {
            tokio::select! {
                () = &mut stall => panic!("stalled despite traffic"),
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
            w.write_all(b"x").await.unwrap();
            let mut one = [0u8; 1];
            b.read_exact(&mut one).await.unwrap();
        }
        // Then silence: it ends.
        tokio::time::timeout(Duration::from_secs(61), stall)
            .await
            .expect("not stalled after 60 s of silence");
    }
}

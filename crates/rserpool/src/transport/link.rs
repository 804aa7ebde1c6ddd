//! An association handed to the task that owns a state machine: a reader
//! task forwards each whole message as an input, and a writer task drains
//! a bounded queue, so the owner never waits on a socket.

use super::Association;
use std::io;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The owner's end of an association; dropping it stops the reader, and
/// the writer closes the association once its queue is sent.
#[derive(Debug)]
pub struct Link<T = Vec<u8>> {
    /// Messages to send; a full queue means the peer does not keep up.
    pub tx: mpsc::Sender<T>,
    reader: JoinHandle<()>,
}

impl<T> Link<T> {
    /// A link from its parts, for channels other than [`Association`].
    pub fn new(tx: mpsc::Sender<T>, reader: JoinHandle<()>) -> Self {
        Link { tx, reader }
    }
}

impl<T> Drop for Link<T> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Splits `a`: each received message becomes `on_message(bytes)` on
/// `inputs`, the end of the association `on_close(error)`; up to `queue`
/// messages wait to be sent.
pub fn spawn<I: Send + 'static>(
    a: Association,
    queue: usize,
    inputs: mpsc::Sender<I>,
    on_message: impl Fn(Vec<u8>) -> I + Send + 'static,
    on_close: impl FnOnce(Option<io::Error>) -> I + Send + 'static,
) -> Link {
    let Association {
        mut reader,
        mut writer,
        ..
    } = a;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(queue);
    let reader = tokio::spawn(async move {
        let err = loop {
            match reader.recv().await {
                Ok(Some(m)) => {
                    if inputs.send(on_message(m.to_vec())).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let _ = inputs.send(on_close(err)).await;
    });
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if writer.send(&m).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    Link { tx, reader }
}

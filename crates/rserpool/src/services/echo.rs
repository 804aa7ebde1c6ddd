//! `echo` and `discard`.

use crate::pool_element::{ServerSession, SessionMessage};
use std::io;

pub async fn echo(mut s: ServerSession) -> io::Result<()> {
    while let Some(m) = s.recv().await? {
        if let SessionMessage::Data(f) = m {
            s.send(f.ppid, f.payload).await?;
        }
    }
    Ok(())
}

pub async fn discard(mut s: ServerSession) -> io::Result<()> {
    while s.recv().await?.is_some() {}
    Ok(())
}

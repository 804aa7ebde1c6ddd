//! `ping-pong`: every message is answered with `pong <n>`; the count is
//! handed to the pool user as a COOKIE (`pingpong <n>`) so that another
//! PE counts on after a failover.

use crate::pool_element::{ServerSession, SessionMessage};
use std::io;

pub async fn serve(mut s: ServerSession) -> io::Result<()> {
    let mut count: u64 = 0;
    while let Some(m) = s.recv().await? {
        match m {
            SessionMessage::CookieEcho(c) => {
                if let Some(n) = parse_cookie(&c) {
                    count = n;
                }
            }
            SessionMessage::Data(f) => {
                count += 1;
                s.send(f.ppid, format!("pong {count}")).await?;
                s.send_cookie(format!("pingpong {count}").as_bytes())
                    .await?;
            }
            SessionMessage::BusinessCard(_) => {}
        }
    }
    Ok(())
}

fn parse_cookie(c: &[u8]) -> Option<u64> {
    std::str::from_utf8(c)
        .ok()?
        .strip_prefix("pingpong ")?
        .parse()
        .ok()
}

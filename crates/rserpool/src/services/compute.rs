//! `compute`: long jobs that survive a failover.
//!
//! `compute N` counts from 0 to N, one step per `compute_step`. After
//! every step the PE sends a COOKIE `compute N K` (K steps done); a PE
//! that receives it back in a COOKIE_ECHO continues the job from K. The
//! answer is `result N resumed_from=K` (K = 0 when the job ran on one PE).
//! After the answer the cookie becomes `idle`, so a later failover does
//! not run the job again.

use super::ServiceConfig;
use crate::pool_element::{ServerSession, SessionMessage};
use std::io;

/// A job in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    pub target: u64,
    pub done: u64,
    pub resumed_from: u64,
}

pub async fn serve(cfg: &ServiceConfig, mut s: ServerSession) -> io::Result<()> {
    while let Some(m) = s.recv().await? {
        let job = match m {
            SessionMessage::CookieEcho(c) => match parse_cookie(&c) {
                Some((target, done)) if done < target && target <= cfg.compute_max => Job {
                    target,
                    done,
                    resumed_from: done,
                },
                _ => continue,
            },
            SessionMessage::Data(f) => match parse_request(&f.payload) {
                Some(target) if target <= cfg.compute_max => Job {
                    target,
                    done: 0,
                    resumed_from: 0,
                },
                Some(target) => {
                    let e = format!("error: {target} exceeds the maximum of {}", cfg.compute_max);
                    s.send(f.ppid, e).await?;
                    continue;
                }
                None => {
                    s.send(f.ppid, "error: expected \"compute N\"").await?;
                    continue;
                }
            },
            SessionMessage::BusinessCard(_) => continue,
        };
        run(cfg, &mut s, job).await?;
    }
    Ok(())
}

async fn run(cfg: &ServiceConfig, s: &mut ServerSession, mut job: Job) -> io::Result<()> {
    while job.done < job.target {
        tokio::time::sleep(cfg.compute_step).await;
        job.done += 1;
        s.send_cookie(format!("compute {} {}", job.target, job.done).as_bytes())
            .await?;
    }
    s.send(
        0,
        format!("result {} resumed_from={}", job.target, job.resumed_from),
    )
    .await?;
    s.send_cookie(b"idle").await
}

/// `compute N` or just `N`.
pub fn parse_request(p: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(p).ok()?.trim();
    t.strip_prefix("compute").unwrap_or(t).trim().parse().ok()
}

/// `compute N K`.
pub fn parse_cookie(c: &[u8]) -> Option<(u64, u64)> {
    let t = std::str::from_utf8(c).ok()?;
    let mut it = t.strip_prefix("compute ")?.split(' ');
    let n = it.next()?.parse().ok()?;
    let k = it.next()?.parse().ok()?;
    Some((n, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_cookies_parse() {
        assert_eq!(parse_request(b"compute 20\n"), Some(20));
        assert_eq!(parse_request(b" 7 "), Some(7));
        assert_eq!(parse_request(b"compute x"), None);
        assert_eq!(parse_cookie(b"compute 20 13"), Some((20, 13)));
        assert_eq!(parse_cookie(b"idle"), None);
        assert_eq!(parse_cookie(b"compute 20"), None);
    }
}

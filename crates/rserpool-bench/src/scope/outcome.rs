//! What one generator run measured, as the `result` line the generator
//! process prints and the orchestrating process reads back.

use std::collections::BTreeMap;
use std::fmt;

/// Counts are of requests sent inside the measurement window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Length of the measurement window in seconds.
    pub window_s: f64,
    pub reg_sent: u64,
    pub reg_ok: u64,
    pub reg_rejected: u64,
    /// Sent, but neither accepted nor rejected by the end of the drain.
    pub reg_lost: u64,
    pub res_sent: u64,
    pub res_ok: u64,
    /// Answered with an error or without any PE.
    pub res_failed: u64,
    pub res_lost: u64,
    pub reg_p50_ms: Option<f64>,
    pub reg_p99_ms: Option<f64>,
    pub res_p50_ms: Option<f64>,
    pub res_p99_ms: Option<f64>,
    /// Associations that could not be set up (connect or first registration).
    pub setup_errors: u64,
    /// Associations the registrar closed during the run.
    pub closed: u64,
    /// Timer ticks skipped because the generator fell behind its schedule.
    pub skipped: u64,
    /// Endpoint Keep-Alives answered.
    pub keepalives: u64,
    /// Per registrar: Handle Updates its peers should have sent it minus
    /// those it received; `None` without metrics endpoints.
    pub updates_missing: Option<Vec<i64>>,
    /// Per registrar: PE entries in its handlespace at the end.
    pub pe_counts: Option<Vec<u64>>,
}

impl Outcome {
    /// Errors of any kind; zero in a healthy run.
    pub fn errors(&self) -> u64 {
        self.reg_rejected
            + self.reg_lost
            + self.res_failed
            + self.res_lost
            + self.setup_errors
            + self.closed
    }

    pub fn reg_per_s(&self) -> f64 {
        per_s(self.reg_ok, self.window_s)
    }

    pub fn res_per_s(&self) -> f64 {
        per_s(self.res_ok, self.window_s)
    }

    /// Whether every update reached every peer and every registrar holds
    /// all `pes`; `None` when that could not be checked.
    pub fn verified(&self, pes: usize) -> Option<bool> {
        let missing = self.updates_missing.as_ref()?;
        let counts = self.pe_counts.as_ref()?;
        Some(missing.iter().all(|m| *m == 0) && counts.iter().all(|c| *c == pes as u64))
    }

    /// Reads a line printed by `Display` (without the `result ` prefix).
    pub fn parse(line: &str) -> Result<Outcome, String> {
        let map: BTreeMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let get = |k: &str| {
            map.get(k)
                .copied()
                .ok_or_else(|| format!("result line lacks `{k}`"))
        };
        let int = |k: &str| -> Result<u64, String> {
            get(k)?
                .parse()
                .map_err(|_| format!("result `{k}` is not a count"))
        };
        let opt = |k: &str| -> Result<Option<f64>, String> {
            match get(k)? {
                "-" => Ok(None),
                v => v
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("result `{k}` is not a number")),
            }
        };
        fn list<T: std::str::FromStr>(v: &str, k: &str) -> Result<Option<Vec<T>>, String> {
            if v == "-" {
                return Ok(None);
            }
            v.split(';')
                .map(|x| {
                    x.parse()
                        .map_err(|_| format!("result `{k}` has a bad entry `{x}`"))
                })
                .collect::<Result<Vec<T>, String>>()
                .map(Some)
        }
        Ok(Outcome {
            window_s: get("window_s")?
                .parse()
                .map_err(|_| "result `window_s` is not a number".to_string())?,
            reg_sent: int("reg_sent")?,
            reg_ok: int("reg_ok")?,
            reg_rejected: int("reg_rejected")?,
            reg_lost: int("reg_lost")?,
            res_sent: int("res_sent")?,
            res_ok: int("res_ok")?,
            res_failed: int("res_failed")?,
            res_lost: int("res_lost")?,
            reg_p50_ms: opt("reg_p50_ms")?,
            reg_p99_ms: opt("reg_p99_ms")?,
            res_p50_ms: opt("res_p50_ms")?,
            res_p99_ms: opt("res_p99_ms")?,
            setup_errors: int("setup_errors")?,
            closed: int("closed")?,
            skipped: int("skipped")?,
            keepalives: int("keepalives")?,
            updates_missing: list(get("updates_missing")?, "updates_missing")?,
            pe_counts: list(get("pe_counts")?, "pe_counts")?,
        })
    }
}

fn per_s(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

struct Opt(Option<f64>);

impl fmt::Display for Opt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v:.4}"),
            None => f.write_str("-"),
        }
    }
}

struct List<'a, T>(&'a Option<Vec<T>>);

impl<T: fmt::Display> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("-"),
            Some(v) => {
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(";")?;
                    }
                    write!(f, "{x}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "window_s={:.6} reg_sent={} reg_ok={} reg_rejected={} reg_lost={} \
             res_sent={} res_ok={} res_failed={} res_lost={} \
             reg_p50_ms={} reg_p99_ms={} res_p50_ms={} res_p99_ms={} \
             setup_errors={} closed={} skipped={} keepalives={} \
             updates_missing={} pe_counts={}",
            self.window_s,
            self.reg_sent,
            self.reg_ok,
            self.reg_rejected,
            self.reg_lost,
            self.res_sent,
            self.res_ok,
            self.res_failed,
            self.res_lost,
            Opt(self.reg_p50_ms),
            Opt(self.reg_p99_ms),
            Opt(self.res_p50_ms),
            Opt(self.res_p99_ms),
            self.setup_errors,
            self.closed,
            self.skipped,
            self.keepalives,
            List(&self.updates_missing),
            List(&self.pe_counts),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let o = Outcome {
            window_s: 2.0,
            reg_sent: 101,
            reg_ok: 100,
            reg_lost: 1,
            res_sent: 50,
            res_ok: 50,
            reg_p50_ms: Some(0.25),
            reg_p99_ms: Some(1.5),
            keepalives: 3,
            updates_missing: Some(vec![0, -2]),
            pe_counts: Some(vec![20, 20]),
            ..Outcome::default()
        };
        let back = Outcome::parse(&o.to_string()).unwrap();
        assert_eq!(back, o);
        assert_eq!(back.reg_per_s(), 50.0);
        assert_eq!(back.errors(), 1);
        assert_eq!(back.verified(20), Some(false));
        let unverified = Outcome::parse(&Outcome::default().to_string()).unwrap();
        assert_eq!(unverified.verified(0), None);
    }

    #[test]
    fn verification_needs_no_missing_update_and_all_pes() {
        let mut o = Outcome {
            updates_missing: Some(vec![0, 0]),
            pe_counts: Some(vec![20, 20]),
            ..Outcome::default()
        };
        assert_eq!(o.verified(20), Some(true));
        assert_eq!(o.verified(21), Some(false));
        o.updates_missing = Some(vec![0, 3]);
        assert_eq!(o.verified(20), Some(false));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(
            Outcome::parse("window_s=1")
                .unwrap_err()
                .contains("reg_sent")
        );
        let bad = Outcome::default()
            .to_string()
            .replace("reg_ok=0", "reg_ok=x");
        assert!(Outcome::parse(&bad).unwrap_err().contains("reg_ok"));
        let bad = Outcome::default()
            .to_string()
            .replace("pe_counts=-", "pe_counts=1;y");
        assert!(Outcome::parse(&bad).unwrap_err().contains("`y`"));
    }
}

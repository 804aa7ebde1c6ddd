//! Durations on the command line and in configuration files: always with a
//! unit (`250ms`, `5s`, `1m 30s`, `1h`), so that no flag reads a bare number
//! as milliseconds and another as seconds.

use serde::{Deserialize, Serializer};
use std::time::Duration;

// One parser and printer for the whole command line, the bench's included.
pub use rserpool_bench::units::{duration, format};

/// Serde: an optional duration string.
pub fn de_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => duration(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Serde: writes an optional duration as [`format`] does.
pub fn ser_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format(*d)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_read_back_what_they_print() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(duration("5000").unwrap_err().contains("no unit"));
        assert!(duration("5 parsecs").is_err());
        for d in [0, 1, 250, 5000, 61_000, 3_600_000, 86_400_000] {
            let d = Duration::from_millis(d);
            assert_eq!(duration(&format(d)), Ok(d), "{}", format(d));
        }
    }
}

//! Durations and policy names on the bench command line, spelled as the
//! rest of `rserpool` spells them: durations always with a unit (`250ms`,
//! `10s`, `1m`), policies in kebab case (`round-robin`) with the RSPLIB
//! spelling (`RoundRobin`) accepted too.

use rserpool_proto::wire::PolicyType;
use std::time::Duration;

/// Clap value parser for a duration with a unit.
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "{s:?} has no unit: write e.g. {t}ms or {t}s (units: ms, s, m, h)"
        ));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{s:?} is not a duration such as 250ms, 10s or 1m: {e}"))
}

/// A duration as [`duration`] reads it back: `250ms`, `10s`, `1m 1s`.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(d).to_string()
}

/// Clap value parser for a policy: `round-robin`, `RoundRobin`, ...
pub fn policy(s: &str) -> Result<PolicyType, String> {
    PolicyType::from_name(s).ok_or_else(|| {
        format!(
            "unknown policy {s:?}; one of: {}",
            PolicyType::ALL.map(kebab).join(", ")
        )
    })
}

/// A policy's name in kebab case, as the command line writes it
/// (`least-used` for `LeastUsed`, `weighted-random-dpf` for `WeightedRandomDPF`).
pub fn kebab(p: PolicyType) -> String {
    let mut out = String::new();
    let name = p.name();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // A capital starts a word unless it continues an acronym (DPF).
        let starts_word = c.is_ascii_uppercase()
            && i > 0
            && !(chars[i - 1].is_ascii_uppercase()
                && chars.get(i + 1).is_none_or(|n| n.is_ascii_uppercase()));
        if starts_word {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_read_back_what_they_print() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        assert!(duration("2").unwrap_err().contains("no unit"));
        assert!(duration("0.5").unwrap_err().contains("no unit"));
        assert!(duration("5 parsecs").is_err());
        for ms in [0, 1, 250, 2500, 61_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(duration(&format(d)), Ok(d), "{}", format(d));
        }
    }

    #[test]
    fn policies_in_either_spelling_printed_in_kebab_case() {
        assert_eq!(policy("round-robin"), Ok(PolicyType::RoundRobin));
        assert_eq!(policy("RoundRobin"), Ok(PolicyType::RoundRobin));
        assert_eq!(policy("least-used"), Ok(PolicyType::LeastUsed));
        assert!(policy("fastest").unwrap_err().contains("least-used"));
        assert_eq!(kebab(PolicyType::RoundRobin), "round-robin");
        assert_eq!(kebab(PolicyType::WeightedRandomDpf), "weighted-random-dpf");
        assert_eq!(
            kebab(PolicyType::LeastUsedDegradationDpf),
            "least-used-degradation-dpf"
        );
        for p in PolicyType::ALL {
            assert_eq!(policy(&kebab(p)), Ok(p), "{}", kebab(p));
        }
    }
}

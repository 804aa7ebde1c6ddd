//! Process CPU time from `/proc/PID/stat`, as utilisation over wall time.

use std::time::Duration;

/// Clock ticks per second of the `/proc` time fields (USER_HZ). Linux
/// exports 100 to user space on every architecture it runs on, whatever
/// the kernel's internal HZ.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a process (all its threads), in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks(pub u64);

/// Parses the contents of `/proc/PID/stat`. The command name (field 2) is
/// in parentheses and may itself contain spaces and parentheses, so the
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Result<CpuTicks, String> {
    let close = text
        .rfind(')')
        .ok_or_else(|| "no `)` closing the command name".to_string())?;
    // After `)`: state (field 3), ..., utime (field 14), stime (field 15).
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        let s = fields
            .get(n - 3)
            .ok_or_else(|| format!("only {} fields after the command name", fields.len()))?;
        s.parse::<u64>()
            .map_err(|_| format!("field {n} is `{s}`, not a tick count"))
    };
    Ok(CpuTicks(field(14)? + field(15)?))
}

/// The CPU time a live process has used so far.
pub fn read_ticks(pid: u32) -> Result<CpuTicks, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_stat(&text).map_err(|e| format!("{path}: {e}"))
}

/// The busy time of all CPUs together so far, in clock ticks: each CPU's
/// time since boot (`/proc/uptime`) less its idle and iowait time (the
/// `cpu` line that opens `/proc/stat`).
///
/// Over loopback a sender's system call carries the receiver's protocol
/// work (and an acknowledgement sent at once is charged to whoever sent
/// what it acknowledges), so per-process figures can move work between a
/// registrar and its load generator; the whole machine's time cannot.
/// Busy time is what is not idle, rather than the sum of the busy fields:
/// those are counted by timer tick, which an emulated machine delivers
/// late and too seldom, while idle time is measured (tickless kernels).
pub fn parse_system(stat: &str, uptime: &str) -> Result<CpuTicks, String> {
    let mut lines = stat.lines();
    let line = lines
        .next()
        .filter(|l| l.starts_with("cpu "))
        .ok_or_else(|| "no `cpu` line first".to_string())?;
    let fields = line
        .split_whitespace()
        .skip(1)
        .map(|f| {
            f.parse::<u64>()
                .map_err(|_| format!("`{f}` is not a tick count"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    if fields.len() < 5 {
        return Err(format!(
            "{} fields on the cpu line, expected 5 or more",
            fields.len()
        ));
    }
    let cpus = lines
        .take_while(|l| l.starts_with("cpu"))
        .filter(|l| l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u64;
    if cpus == 0 {
        return Err("no per-CPU lines".to_string());
    }
    let up: f64 = uptime
        .split_whitespace()
        .next()
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| format!("uptime `{}` is not a number of seconds", uptime.trim()))?;
    // user nice system idle iowait ...: fields 4 and 5 are idle and iowait.
    let up_ticks = (up * TICKS_PER_SECOND).round() as u64;
    Ok(CpuTicks(
        (cpus * up_ticks).saturating_sub(fields[3] + fields[4]),
    ))
}

/// The busy time of the whole machine so far.
pub fn read_system_ticks() -> Result<CpuTicks, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let up = std::fs::read_to_string("/proc/uptime").map_err(|e| format!("/proc/uptime: {e}"))?;
    parse_system(&stat, &up).map_err(|e| format!("/proc/stat, /proc/uptime: {e}"))
}

/// Utilisation in percent of one core between two readings `wall` apart
/// (200 % = two cores busy).
pub fn utilisation(before: CpuTicks, after: CpuTicks, wall: Duration) -> Option<f64> {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 || after.0 < before.0 {
        return None;
    }
    Some((after.0 - before.0) as f64 / TICKS_PER_SECOND / secs * 100.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (rserpool) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
        731 269 0 0 20 0 3 0 123456 45678592 2048 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17987 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn system_busy_time_is_what_no_cpu_spent_idle() {
        let stat = "cpu  100 5 40 900 7 3 2 1 50 0\n\
                    cpu0 50 2 20 450 3 1 1 0 25 0\n\
                    cpu1 50 3 20 450 4 2 1 1 25 0\n\
                    intr 12345\n";
        // Two CPUs up 6.5 s each: 1,300 ticks, of which 907 idle or iowait.
        assert_eq!(
            parse_system(stat, "6.50 12.00\n").unwrap(),
            CpuTicks(1300 - 907)
        );
        assert!(parse_system("cpu0 1 2 3 4 5\n", "1.0 1.0").is_err());
        assert!(
            parse_system("cpu  1 2 x 4 5\ncpu0 1 2 3 4 5\n", "1.0 1.0")
                .unwrap_err()
                .contains("`x`")
        );
        assert!(
            parse_system("cpu  1 2 3\n", "1.0")
                .unwrap_err()
                .contains("fields")
        );
        assert!(
            parse_system("cpu  1 2 3 4 5\n", "1.0")
                .unwrap_err()
                .contains("per-CPU")
        );
        assert!(parse_system(stat, "soon").unwrap_err().contains("uptime"));
    }

    #[test]
    fn utime_plus_stime() {
        assert_eq!(parse_stat(STAT).unwrap(), CpuTicks(731 + 269));
    }

    #[test]
    fn command_names_with_spaces_and_parentheses() {
        let odd = STAT.replace("(rserpool)", "(a) b (c))");
        assert_eq!(parse_stat(&odd).unwrap(), CpuTicks(1000));
    }

    #[test]
    fn truncated_or_garbled_lines_are_errors() {
        assert!(parse_stat("4242 rserpool S 1").unwrap_err().contains(")"));
        assert!(
            parse_stat("4242 (x) S 1 2 3")
                .unwrap_err()
                .contains("fields")
        );
        let bad = STAT.replace(" 731 ", " x ");
        assert!(parse_stat(&bad).unwrap_err().contains("field 14"));
    }

    #[test]
    fn our_own_process_is_readable() {
        let t0 = read_ticks(std::process::id()).unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let t1 = read_ticks(std::process::id()).unwrap();
        assert!(t1.0 >= t0.0 && x > 0);
        assert!(read_ticks(u32::MAX).is_err());
    }

    #[test]
    fn utilisation_is_percent_of_one_core() {
        let u = utilisation(CpuTicks(100), CpuTicks(150), Duration::from_secs(2)).unwrap();
        assert!((u - 25.0).abs() < 1e-9);
        let two_cores = utilisation(CpuTicks(0), CpuTicks(400), Duration::from_secs(2)).unwrap();
        assert!((two_cores - 200.0).abs() < 1e-9);
        assert_eq!(
            utilisation(CpuTicks(5), CpuTicks(4), Duration::from_secs(1)),
            None
        );
        assert_eq!(utilisation(CpuTicks(0), CpuTicks(4), Duration::ZERO), None);
    }
}

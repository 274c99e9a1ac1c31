//! What the bench reads about the router under test from `/proc`: CPU time and resident memory.

use super::BenchError;

/// Clock ticks per second of the `utime`/`stime` fields. USER_HZ is part of the Linux user ABI
/// and 100 on every architecture Linux ships (the kernel's own HZ may differ; /proc converts).
const USER_HZ: f64 = 100.0;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU time of all threads, seconds.
    pub cpu_s: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
}

/// Read `/proc/<pid>/stat` and `/proc/<pid>/status`.
pub fn sample(pid: u32) -> Result<ProcSample, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| BenchError::Proc(format!("/proc/{pid}/stat: {e}")))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError::Proc(format!("/proc/{pid}/status: {e}")))?;
    Ok(ProcSample {
        cpu_s: parse_cpu(&stat)?,
        rss_bytes: parse_rss(&status)?,
    })
}

/// utime + stime (fields 14 and 15). The command name (field 2) may contain spaces and ')',
/// so the fields are counted from after the last ')'.
fn parse_cpu(stat: &str) -> Result<f64, BenchError> {
    let rest = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .ok_or_else(|| BenchError::Proc("stat: no ')' after the command name".into()))?;
    // After ")" come field 3 (state) onwards: utime is field 14, i.e. index 11 here.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize, what: &str| -> Result<u64, BenchError> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| BenchError::Proc(format!("stat: {what}")))
    };
    let ticks = field(11, "utime")?.saturating_add(field(12, "stime")?);
    Ok(ticks as f64 / USER_HZ)
}

fn parse_rss(status: &str) -> Result<u64, BenchError> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(1024))
        .ok_or_else(|| BenchError::Proc("status: VmRSS".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_name() {
        let stat = "1234 (a b) c) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 99 1000 200";
        assert_eq!(parse_cpu(stat).unwrap(), 3.0);
        assert!(parse_cpu("garbage").is_err());
        assert!(parse_cpu("1 (x) S 1").is_err());
    }

    #[test]
    fn parses_rss() {
        let s = "Name:\tx\nVmRSS:\t   2048 kB\nThreads: 1\n";
        assert_eq!(parse_rss(s).unwrap(), 2048 * 1024);
        assert!(parse_rss("Name: x\n").is_err());
    }

    #[test]
    fn samples_ourselves() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_s >= 0.0);
    }
}

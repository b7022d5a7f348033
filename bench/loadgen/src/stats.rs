//! Latency summaries, process probes (`/proc/<pid>`), result lines.

use std::time::Duration;

/// Percentiles of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Maximum, microseconds.
    pub max_us: f64,
}

impl Summary {
    /// Summarizes `samples` (sorted in place). Empty input gives zeros.
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        Self {
            count: samples.len(),
            p50_us: us(percentile(samples, 0.50)),
            p99_us: us(percentile(samples, 0.99)),
            max_us: us(samples[samples.len() - 1]),
        }
    }
}

/// Nearest-rank percentile of sorted, non-empty `samples` (`q` in `0..=1`).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Resident set size of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// `VmRSS:   1234 kB` → 1234.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU time of process `pid` (all threads), from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat)
}

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on Linux).
pub const CLOCK_TICKS: f64 = 100.0;

/// utime + stime of a `/proc/.../stat` line.
pub fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    // Fields after the command (which may contain spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 overall, i.e. 11 and 12 after `state`.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / CLOCK_TICKS,
    ))
}

/// One measured value, printed as `result<TAB>label<TAB>size<TAB>metric<TAB>value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Server label (`huddle`, `node`).
    pub label: String,
    /// Connected idle sockets when measured.
    pub size: usize,
    /// Metric name.
    pub metric: &'static str,
    /// Value.
    pub value: f64,
}

impl Measurement {
    /// The machine-readable line.
    pub fn line(&self) -> String {
        format!(
            "result\t{}\t{}\t{}\t{:.3}",
            self.label, self.size, self.metric, self.value
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_proc_parsing() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let s = Summary::of(&mut v);
        assert_eq!(s.count, 100);
        assert!((s.p50_us - 50.0).abs() < 1e-6);
        assert!((s.p99_us - 99.0).abs() < 1e-6);
        assert_eq!(Summary::of(&mut []), Summary::default());
        assert_eq!(parse_vm_rss("Name: x\nVmRSS:\t  2048 kB\n"), Some(2048));
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_secs(2)));
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(cpu_time(std::process::id()).is_some());
    }
}

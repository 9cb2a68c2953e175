//! A process's memory as Linux reports it in `/proc/<pid>/status`, for the benchmarks' tables.

/// The field `field` (`"VmHWM:"`, `"RssAnon:"`) of the process `pid` (a number, or `"self"`),
/// in MiB.
pub fn status_mib(pid: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

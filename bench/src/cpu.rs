//! CPU time as Linux counts it in `/proc/<pid>/stat`, for the benchmarks' tables: how much of the
//! machine the server under load, PostgreSQL and the load generator each spend per request, and
//! so the most requests a second the machine's cores could serve.

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`USER_HZ`: 100 on Linux x86-64).
const TICKS_PER_SECOND: f64 = 100.0;

/// The CPU seconds (user and system) of the process `pid` (a number, `"self"` or
/// `"thread-self"`) and of the children it has waited for, read from `/proc/PID/stat`, with the
/// process's name.
fn times(pid: &str) -> Option<(String, f64, f64)> {
    parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// [`times`] from the text of a `/proc/PID/stat`.
fn parse(stat: &str) -> Option<(String, f64, f64)> {
    // The name stands in parentheses and may hold spaces or parentheses itself.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    // After the name: state (field 3), …, utime (14), stime (15), cutime (16), cstime (17).
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let own = (ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SECOND;
    let children = (ticks(13)? + ticks(14)?) as f64 / TICKS_PER_SECOND;
    Some((name, own, children))
}

/// CPU seconds the process `pid` has spent so far.
pub fn process_seconds(pid: u32) -> Option<f64> {
    times(&pid.to_string()).map(|(_, own, _)| own)
}

/// CPU seconds spent so far by the children this process has waited for (a load generator
/// run to its end, as `wrk` is).
pub fn waited_children_seconds() -> Option<f64> {
    times("self").map(|(_, _, children)| children)
}

/// CPU seconds spent so far by PostgreSQL on this machine: every process named `postgres` (the
/// postmaster, its backends and workers), and the backends that have exited, which Linux adds
/// to the postmaster's children's time.
pub fn postgres_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let pid = name.to_str()?;
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let (name, own, children) = times(pid)?;
            (name == "postgres").then_some(own + children)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_after_a_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime …
        let stat = "4242 (postgres: a (b) c) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 1200 300 20 0 1 0";
        let (name, own, children) = parse(stat).expect("a valid line");
        assert_eq!(name, "postgres: a (b) c");
        assert!((own - 3.0).abs() < 1e-9, "{own}");
        assert!((children - 15.0).abs() < 1e-9, "{children}");
        assert_eq!(parse("4242 (cut short) S 1 2"), None);
    }

    #[test]
    fn a_busy_process_is_seen_spending_time() {
        // This thread's own time: the test harness runs other tests on other threads.
        let before = times("thread-self").expect("this thread's stat").1;
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = times("thread-self").expect("this thread's stat").1;
        // 300 ms of spinning on one thread: at least a tick, at most the wall time and a tick.
        assert!(after - before >= 0.01, "{before} → {after}");
        assert!(after - before <= 0.32, "{before} → {after}");
        assert_eq!(
            process_seconds(std::process::id()).map(|s| s >= after),
            Some(true)
        );
    }
}

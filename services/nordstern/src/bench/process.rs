//! What a benchmark's own process, and the PostgreSQL server beside it, used: read from
//! `/proc` (Linux; elsewhere the figures are NaN or "n/a").

use std::time::Duration;

/// Peak resident set of this process (`VmHWM`), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time (user and system, every thread) this process and the PostgreSQL server
/// processes have used so far; `None` where `/proc` cannot tell. Differences of two
/// readings are what a step cost: a rate halves when a neighbour takes a core, CPU per
/// item moves much less.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    pub own: Option<Duration>,
    pub postgres: Option<Duration>,
}

impl CpuTimes {
    pub fn now() -> Self {
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| ticks(&stat, false));
        let postgres = std::fs::read_dir("/proc").ok().map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
                .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
                .filter(|stat| command(stat) == Some("postgres"))
                // The postmaster's children that ended count in its own reaped times.
                .filter_map(|stat| ticks(&stat, true))
                .sum()
        });
        CpuTimes {
            own: own.map(from_ticks),
            postgres: postgres.map(from_ticks),
        }
    }

    /// CPU used since `earlier` in µs per item: this process's, and the PostgreSQL
    /// server's.
    pub fn micros_per(&self, earlier: &CpuTimes, items: u64) -> (Option<f64>, Option<f64>) {
        let per = |now: Option<Duration>, then: Option<Duration>| {
            Some(now?.saturating_sub(then?).as_secs_f64() * 1e6 / items.max(1) as f64)
        };
        (
            per(self.own, earlier.own),
            per(self.postgres, earlier.postgres),
        )
    }
}

/// µs of CPU as the benchmarks print them.
pub fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |micros| format!("{micros:.0} µs"))
}

/// CPU per item (from [`CpuTimes::micros_per`]) as the benchmarks print it: this
/// process's, and PostgreSQL's when the run used it (otherwise its CPU in the meantime
/// is not the run's).
pub fn cpu_per_item((own, postgres): (Option<f64>, Option<f64>), used_postgres: bool) -> String {
    if used_postgres {
        format!(
            "{} in this process, {} in PostgreSQL",
            micros(own),
            micros(postgres)
        )
    } else {
        format!("{} in this process", micros(own))
    }
}

/// The command name of a `/proc/<pid>/stat` line (between the parentheses).
fn command(stat: &str) -> Option<&str> {
    let start = stat.find('(')?;
    let end = stat.rfind(')')?;
    stat.get(start + 1..end)
}

/// utime + stime (and, with `reaped`, cutime + cstime) of a `/proc/<pid>/stat` line.
fn ticks(stat: &str, reaped: bool) -> Option<u64> {
    // Fields after the command: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let mut sum = field(14)? + field(15)?;
    if reaped {
        sum += field(16)? + field(17)?;
    }
    Some(sum)
}

/// Clock ticks as a duration: Linux reports them in USER_HZ, 100 per second on every
/// architecture.
fn from_ticks(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_after_a_command_with_spaces_and_parentheses() {
        let stat = "42 (post (gres) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 1 0 5 0 0";
        assert_eq!(command(stat), Some("post (gres) x"));
        assert_eq!(ticks(stat, false), Some(325));
        assert_eq!(ticks(stat, true), Some(332));
    }

    #[test]
    fn busy_work_shows_as_cpu_time() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let before = CpuTimes::now();
        // Busy until two clock ticks of CPU show, however long a loaded machine takes to
        // give them; the deadline only bounds a reading that never moves.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let start = before
            .own
            .unwrap_or_else(|| panic!("no CPU time in /proc/self/stat"));
        let mut x = 0u64;
        while CpuTimes::now()
            .own
            .is_none_or(|own| own < start + Duration::from_millis(20))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no CPU time counted in 60 s of busy work"
            );
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let (own, _) = CpuTimes::now().micros_per(&before, 1);
        assert!(own.is_some_and(|own| own >= 20_000.0), "{own:?}");
    }
}

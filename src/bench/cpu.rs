//! How busy the machine's cores were during a phase of a benchmark: the process's CPU time
//! (every thread, those that ended included) and one named thread's own (the sequencer), over
//! the wall time.
//! A figure below the ceiling with cores left idle is lost to waiting (a pipeline's bubbles,
//! fsyncs); with every core busy it is lost to work other than verification.

use std::time::{Duration, Instant};

/// Sums the time of the phases measured between each `start` and `stop`.
pub(crate) struct CpuUse {
    /// The thread followed apart (by name).
    thread: &'static str,
    wall: Duration,
    process: Duration,
    /// None while the followed thread was not running in any phase.
    followed: Option<Duration>,
    running: Option<(Instant, Duration, Option<Duration>)>,
}

impl CpuUse {
    /// Not started; follows the sequencer thread apart.
    pub(crate) fn new() -> Self {
        Self::following("sequencer")
    }

    pub(crate) fn started() -> Self {
        let mut c = Self::new();
        c.start();
        c
    }

    fn following(thread: &'static str) -> Self {
        CpuUse {
            thread,
            wall: Duration::ZERO,
            process: Duration::ZERO,
            followed: None,
            running: None,
        }
    }

    pub(crate) fn start(&mut self) {
        self.running = Some((Instant::now(), process_cpu(), thread_cpu(self.thread)));
    }

    pub(crate) fn stop(&mut self) {
        if let Some((wall, process, followed)) = self.running.take() {
            self.wall += wall.elapsed();
            self.process += process_cpu().saturating_sub(process);
            if let (Some(from), Some(to)) = (followed, thread_cpu(self.thread)) {
                *self.followed.get_or_insert(Duration::ZERO) += to.saturating_sub(from);
            }
        }
    }

    /// "1.62 of 2 cores busy, the sequencer thread 0.41", over the phases measured (stops a
    /// running one first).
    pub(crate) fn report(&mut self) -> String {
        self.stop();
        let wall = self.wall.as_secs_f64().max(1e-9);
        let cores = crate::ledger::parallel::cores();
        let busy = self.process.as_secs_f64() / wall;
        match self.followed {
            Some(t) => format!(
                "{busy:.2} of {cores} cores busy, the {} thread {:.2}",
                self.thread,
                t.as_secs_f64() / wall
            ),
            None => format!("{busy:.2} of {cores} cores busy"),
        }
    }
}

/// User and system time of the whole process, ended threads included.
fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// User and system time of the child processes that ended and were waited for (a load
/// generator run with `Command::output`).
pub(crate) fn children_cpu() -> Duration {
    rusage(libc::RUSAGE_CHILDREN)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage writes the struct it is given and nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time (user + system) the process's threads named `name` have used so far, from
/// `/proc/self/task/*/stat` (Linux): on a shared machine a steadier figure than a rate.
pub(crate) fn thread_cpu(name: &str) -> Option<Duration> {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        return None;
    }
    let mut used = 0u64;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, so fields count from the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        used += u.parse::<u64>().ok()? + s.parse::<u64>().ok()?;
        found = true;
    }
    found.then(|| Duration::from_micros(used * 1_000_000 / ticks as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phase's CPU counts the followed thread's work, and the whole process's at least as
    /// much (it is one of the process's threads).
    #[test]
    fn a_busy_thread_shows_in_the_process_and_as_itself() {
        // A name no other test's thread has (tests share the process).
        let mut cpu = CpuUse::following("cpu-use-test");
        let report = std::thread::Builder::new()
            .name("cpu-use-test".into())
            .spawn(move || {
                // Started once the thread runs: a thread not yet there is not followed.
                cpu.start();
                // 50 ms of CPU by its own reading, however loaded the machine (10 s at most).
                let first = thread_cpu("cpu-use-test").unwrap_or_default();
                let started = Instant::now();
                let mut x = 0u64;
                while started.elapsed() < Duration::from_secs(10)
                    && thread_cpu("cpu-use-test").unwrap_or_default()
                        < first + Duration::from_millis(50)
                {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                }
                // Read while the thread lives: /proc lists live threads only.
                cpu.report()
            })
            .unwrap()
            .join()
            .unwrap();
        let busy: f64 = report.split(' ').next().unwrap().parse().unwrap();
        let own: f64 = report.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(own > 0.0, "{report}");
        assert!(busy + 0.01 >= own, "{report}");
        // No such thread in the phase: the process's figure alone.
        let mut alone = CpuUse::following("no-such-thread");
        alone.start();
        assert!(alone.report().ends_with("cores busy"));
    }

    /// A thread's CPU is found by its name and grows while it works; no such thread, no figure.
    #[test]
    fn a_named_threads_cpu_is_read_from_proc() {
        // Spins until it has used 50 ms of CPU by its own reading (10 s at most, however
        // loaded the machine), from a first reading taken before.
        let spin = std::thread::Builder::new()
            .name("bench-spin".into())
            .spawn(|| {
                let first = thread_cpu("bench-spin").expect("the thread is found by its name");
                let started = Instant::now();
                let mut x = 0u64;
                while started.elapsed() < Duration::from_secs(10) {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                    if thread_cpu("bench-spin")
                        .is_some_and(|t| t >= first + Duration::from_millis(50))
                    {
                        return true;
                    }
                }
                false
            })
            .unwrap();
        assert!(
            spin.join().unwrap(),
            "the spinning thread's CPU never grew by 50 ms"
        );
        assert_eq!(thread_cpu("no-such-thread"), None);
    }
}

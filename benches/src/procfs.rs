//! What the kernel knows about a process: CPU time from `/proc/<pid>/stat`, memory from
//! `/proc/<pid>/status`. CPU per delivered message is the figure that survives a noisy machine.

use std::fs;

/// CPU time of a process (all threads) in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// In the process's own code.
    pub user: u64,
    /// In the kernel on its behalf (system calls, socket copies, page faults).
    pub system: u64,
}

impl CpuTimes {
    pub fn total(self) -> u64 {
        self.user + self.system
    }

    /// `self - earlier`, per field.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

impl std::iter::Sum for CpuTimes {
    fn sum<I: Iterator<Item = CpuTimes>>(iter: I) -> CpuTimes {
        iter.fold(CpuTimes::default(), |a, b| CpuTimes {
            user: a.user + b.user,
            system: a.system + b.system,
        })
    }
}

/// CPU time (user + system) of the whole process, all threads, in microseconds.
pub fn cpu_us(pid: u32) -> Option<u64> {
    cpu_times(pid).map(CpuTimes::total)
}

/// User and system CPU time of the whole process, all threads.
pub fn cpu_times(pid: u32) -> Option<CpuTimes> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = clock_ticks();
    Some(CpuTimes {
        user: utime * 1_000_000 / ticks,
        system: stime * 1_000_000 / ticks,
    })
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmRSS` or `VmHWM` (peak RSS), in KiB.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The process's own CPU time in microseconds.
pub fn self_cpu_us() -> u64 {
    cpu_us(std::process::id()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id();
        assert!(status_kib(pid, "VmRSS").is_some_and(|k| k > 0));
        assert!(status_kib(pid, "VmHWM").is_some_and(|k| k > 0));
        assert!(cpu_us(pid).is_some());
        assert_eq!(status_kib(pid, "NoSuchKey"), None);
    }

    #[test]
    fn cpu_times_add_up_and_subtract_per_field() {
        let a = CpuTimes {
            user: 30,
            system: 5,
        };
        let b = CpuTimes {
            user: 10,
            system: 7,
        };
        let sum: CpuTimes = [a, b].into_iter().sum();
        assert_eq!(
            sum,
            CpuTimes {
                user: 40,
                system: 12
            }
        );
        assert_eq!(sum.total(), 52);
        assert_eq!(sum.since(b), a);
        // A counter never runs backwards; a reading taken out of order gives zero, not a wrap.
        assert_eq!(b.since(a).user, 0);
    }
}

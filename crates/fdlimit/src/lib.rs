//! The process's open-files limit (`RLIMIT_NOFILE`) and its kernel descriptor table, prepared once
//! at start, while the process is still single-threaded. Shared by the broker (`linkmq start`), the
//! load generator (`linkmq-bench`) and `cargo xtask bench`, which each hold thousands of sockets.
//!
//! Linux grows a process's descriptor table by doubling it, and when the process has more than one
//! thread each growth waits for an RCU grace period (`expand_fdtable` → `synchronize_rcu`) holding
//! the table's lock: every `accept`, `socket` and `connect` in flight stalls 10-20 ms with it
//! (measured on the `idle10k` benchmark). [`pregrow_fd_table`] takes that cost once, up front.

/// The soft and hard `RLIMIT_NOFILE` of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    pub soft: u64,
    pub hard: u64,
}

/// This process's open-files limit, or `None` if `getrlimit` fails.
pub fn nofile_limit() -> Option<NofileLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    Some(NofileLimit {
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

fn set_nofile_limit(soft: u64, hard: u64) -> bool {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the local struct; failing leaves the limit as it was.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// The kernel's most descriptors per process (`fs.nr_open`), unbounded if unreadable.
pub fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

/// The open-files limit before and after [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raised {
    /// The soft limit before (0 if unknown).
    pub before: u64,
    /// The soft limit now in force (0 if unknown).
    pub now: u64,
}

/// Raises the soft open-files limit to the hard one (an unlimited hard limit stops at
/// `fs.nr_open`). With `hard_at_least`, a hard limit below it is first raised to it, which only a
/// privileged process may do (children inherit both limits); a refusal leaves the hard limit.
pub fn raise_nofile_limit(hard_at_least: Option<u64>) -> Raised {
    let Some(lim) = nofile_limit() else {
        return Raised::default();
    };
    let mut hard = lim.hard;
    if let Some(want) = hard_at_least
        && hard < want
        && set_nofile_limit(lim.soft.min(want), want)
    {
        hard = want;
    }
    let ceiling = hard.min(nr_open());
    if lim.soft < ceiling {
        set_nofile_limit(ceiling, hard);
    }
    Raised {
        before: lim.soft,
        now: nofile_limit().map_or(0, |l| l.soft),
    }
}

/// Grows this process's descriptor table to hold `n` descriptors now (capped by the soft limit)
/// and returns the size it was grown to, or `None` when it was not (`n` ≤ 1,024, the table a
/// process starts with room for, or the kernel refused). The table never shrinks; each slot costs
/// 8 bytes of kernel memory. Call it before the process starts threads.
pub fn pregrow_fd_table(n: u64) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let n = n.min(nofile_limit()?.soft);
    if n <= 1024 {
        return None;
    }
    let target = libc::c_int::try_from(n - 1).ok()?;
    let null = std::fs::File::open("/dev/null").ok()?;
    // The lowest free descriptor at or above `target` is `target` itself in a process that holds
    // fewer descriptors: duplicating onto it grows the table to hold it, closing it keeps the table.
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own returns a new one (or -1), closed at once.
    let fd = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, target) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned to us and nothing else refers to it.
    unsafe { libc::close(fd) };
    u64::try_from(fd).ok().map(|fd| fd + 1)
}

/// The size of this process's descriptor table (`FDSize` in `/proc/self/status`).
pub fn fd_table_size() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("FDSize:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_lifts_the_soft_limit_to_the_hard_one() {
        let r = raise_nofile_limit(None);
        let lim = nofile_limit().unwrap();
        assert_eq!(r.now, lim.soft);
        assert!(r.now >= r.before);
        assert_eq!(
            lim.soft,
            lim.hard.min(nr_open()),
            "soft limit raised to the hard one (or fs.nr_open, if the hard one is unlimited)"
        );
    }

    #[test]
    fn a_pregrown_table_has_the_slots_asked_for() {
        let r = raise_nofile_limit(None);
        let want = r.now.min(4096);
        match pregrow_fd_table(want) {
            Some(grown) => {
                assert_eq!(grown, want);
                let size = fd_table_size().unwrap();
                assert!(size >= grown, "FDSize {size} after growing to {grown}");
            }
            // Only a limit this low keeps the table as it starts.
            None => assert!(want <= 1024, "not grown to {want}"),
        }
        // Nothing to do for a table's starting size.
        assert_eq!(pregrow_fd_table(64), None);
    }
}

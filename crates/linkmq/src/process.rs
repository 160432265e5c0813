//! Process-wide tuning done once at start, before the runtime's threads exist: malloc and the
//! file-descriptor table.

/// glibc's malloc hands freed memory at the top of a heap back to the kernel once it passes
/// 128 KiB (`M_TRIM_THRESHOLD`), so relaying 64 KB messages maps and faults in the same pages again
/// for nearly every message (measured on `payload-64k`: up to 7 page faults per message, and the
/// broker's CPU per message doubling with them). The broker keeps up to 16 MiB of freed heap and
/// serves buffers up to 1 MiB from it (above that, `mmap` as usual). The `MALLOC_TRIM_THRESHOLD_`
/// and `MALLOC_MMAP_THRESHOLD_` environment variables, when set, still decide.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_malloc() {
    const TRIM: libc::c_int = 16 << 20;
    const MMAP: libc::c_int = 1 << 20;
    if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets a glibc tunable; called before any other thread exists.
        unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM) };
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: as above.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_malloc() {}

/// The kernel's file-descriptor table for this process, sized at start.
///
/// Linux grows a process's descriptor table by doubling it, and when the process has more than one
/// thread each growth waits for an RCU grace period (`expand_fdtable` → `synchronize_rcu`) while
/// holding the table's lock, so every `accept` of every listener stalls with it. Measured on
/// `idle10k`: 10-20 ms stalls as the broker passed 256, 512, 1,024, 4,096 and 8,192 descriptors,
/// each holding up all 100 handshakes in flight (connect p99 19 ms against Mosquitto's 5 ms; a
/// single-threaded Mosquitto never waits). So the broker raises its soft open-files limit to the
/// hard one (10,000 connections need more than the usual 1,024) and grows the table once, while it
/// is still single-threaded, to the limit or [`FdTable::PREGROW`] descriptors, whichever is lower
/// (8 bytes of kernel memory per slot: 512 KiB). The table never shrinks.
#[derive(Debug, Default)]
pub struct FdTable {
    /// The soft `RLIMIT_NOFILE` before and after raising it (0 if unknown).
    limit_before: u64,
    limit: u64,
    /// The table was grown to hold this many descriptors (0 if not).
    grown_to: u64,
}

/// The kernel's most descriptors per process (`fs.nr_open`), unbounded if unreadable.
#[cfg(target_os = "linux")]
fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

impl FdTable {
    /// The most descriptors the table is grown to at start; beyond, it doubles as usual.
    pub const PREGROW: u64 = 65_536;

    #[cfg(target_os = "linux")]
    pub fn prepare() -> FdTable {
        use std::os::fd::AsRawFd;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the local struct.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return FdTable::default();
        }
        let mut t = FdTable {
            limit_before: lim.rlim_cur,
            limit: lim.rlim_cur,
            grown_to: 0,
        };
        // An unlimited hard limit still stops at the kernel's fs.nr_open.
        let ceiling = lim.rlim_max.min(nr_open());
        if lim.rlim_cur < ceiling {
            let raised = libc::rlimit {
                rlim_cur: ceiling,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit reads the local struct; failing leaves the limit as it was.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                t.limit = ceiling;
            }
        }
        let want = t.limit.min(Self::PREGROW);
        // The lowest free descriptor at or above `want - 1` is `want - 1` itself on a fresh
        // process: duplicating onto it grows the table to hold it, and closing it keeps the table.
        if want > 1024
            && let Ok(null) = std::fs::File::open("/dev/null")
        {
            let target = libc::c_int::try_from(want - 1).unwrap_or(libc::c_int::MAX);
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own returns a new one (or -1), closed at once.
            let fd = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, target) };
            if fd >= 0 {
                // SAFETY: `fd` was just returned to us and nothing else refers to it.
                unsafe { libc::close(fd) };
                t.grown_to = u64::try_from(fd).unwrap_or(0) + 1;
            }
        }
        t
    }

    #[cfg(not(target_os = "linux"))]
    pub fn prepare() -> FdTable {
        FdTable::default()
    }

    /// Logs what was done (once logging is up).
    pub fn log(&self) {
        if self.limit != self.limit_before {
            tracing::info!(
                from = self.limit_before,
                to = self.limit,
                "raised the open-files limit (RLIMIT_NOFILE)"
            );
        }
        // 0: not known (getrlimit failed, or not Linux).
        if self.limit > 0 && self.limit < 10_000 {
            tracing::warn!(
                limit = self.limit,
                "the open-files limit caps connections near this number; raise it (ulimit -n, LimitNOFILE)"
            );
        }
        tracing::debug!(
            descriptors = self.grown_to,
            "descriptor table grown at start"
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn prepare_raises_the_soft_limit_and_grows_the_table() {
        let t = FdTable::prepare();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the local struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(t.limit, lim.rlim_cur);
        assert_eq!(
            lim.rlim_cur,
            lim.rlim_max.min(nr_open()),
            "soft limit raised to the hard one (or fs.nr_open, if the hard one is unlimited)"
        );
        assert!(t.limit >= t.limit_before);
        if t.limit > 1024 {
            assert_eq!(t.grown_to, t.limit.min(FdTable::PREGROW));
            // The kernel reports the table's size in /proc/self/status (FDSize).
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let size: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("FDSize:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            assert!(size >= t.grown_to, "FDSize {size} < {}", t.grown_to);
        }
    }
}

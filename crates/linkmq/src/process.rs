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

impl FdTable {
    /// The most descriptors the table is grown to at start; beyond, it doubles as usual.
    pub const PREGROW: u64 = 65_536;

    pub fn prepare() -> FdTable {
        let raised = linkmq_fdlimit::raise_nofile_limit(None);
        FdTable {
            limit_before: raised.before,
            limit: raised.now,
            grown_to: linkmq_fdlimit::pregrow_fd_table(raised.now.min(Self::PREGROW)).unwrap_or(0),
        }
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
        let lim = linkmq_fdlimit::nofile_limit().unwrap();
        assert_eq!(t.limit, lim.soft);
        assert_eq!(
            lim.soft,
            lim.hard.min(linkmq_fdlimit::nr_open()),
            "soft limit raised to the hard one (or fs.nr_open, if the hard one is unlimited)"
        );
        assert!(t.limit >= t.limit_before);
        if t.limit > 1024 {
            assert_eq!(t.grown_to, t.limit.min(FdTable::PREGROW));
            let size = linkmq_fdlimit::fd_table_size().unwrap_or(0);
            assert!(size >= t.grown_to, "FDSize {size} < {}", t.grown_to);
        }
    }
}

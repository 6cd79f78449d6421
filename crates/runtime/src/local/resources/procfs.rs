//! Usage without a cgroup: CPU time and resident memory summed over every process in `/proc` whose process
//! group is one of a replica's. Also the two machine constants that needs (clock ticks per second and the page
//! size), read from `/proc/self/auxv` rather than through `sysconf`, which would need unsafe code.

use std::path::Path;
use std::sync::OnceLock;

use super::Usage;
use super::parse;

const AT_PAGESZ: u64 = 6;
const AT_CLKTCK: u64 = 17;

/// Clock ticks per second and page size in bytes, from the auxiliary vector, else Linux's usual 100 and 4096.
fn machine() -> (u64, u64) {
    static MACHINE: OnceLock<(u64, u64)> = OnceLock::new();
    *MACHINE.get_or_init(|| {
        let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
        let ticks = parse::auxv_entry(&auxv, AT_CLKTCK).filter(|&t| t > 0).unwrap_or(100);
        let page = parse::auxv_entry(&auxv, AT_PAGESZ).filter(|&p| p > 0).unwrap_or(4096);
        (ticks, page)
    })
}

/// Sums usage over the processes of `pgids` found under `proc` (normally `/proc`).
///
/// CPU is utime + stime plus cutime + cstime (children the process waited for), so the sum does not drop when a
/// member of the group reaps another; it still drops when the group leader itself is reaped, so treat it as
/// cumulative only while the replica runs. Processes that exit mid-scan are skipped.
pub fn group_usage(proc: &Path, pgids: &[u32]) -> Usage {
    let mut usage = Usage::default();
    if pgids.is_empty() {
        return usage;
    }
    let (ticks, page) = machine();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return usage;
    };
    let mut ticks_used = 0u64;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let dir = entry.path();
        let Some(stat) = std::fs::read_to_string(dir.join("stat")).ok().as_deref().and_then(parse::proc_stat) else {
            continue;
        };
        if !pgids.contains(&stat.pgrp) {
            continue;
        }
        ticks_used = ticks_used.saturating_add(stat.utime + stat.stime + stat.cutime + stat.cstime);
        let resident = std::fs::read_to_string(dir.join("statm")).ok().as_deref().and_then(parse::statm_resident_pages);
        usage.memory_bytes = usage.memory_bytes.saturating_add(resident.unwrap_or(0).saturating_mul(page));
    }
    usage.cpu_seconds = ticks_used as f64 / ticks as f64;
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_constants_are_plausible() {
        let (ticks, page) = machine();
        assert!(ticks >= 100 && page >= 4096, "{ticks} {page}");
    }

    #[test]
    fn own_group_has_memory_and_cpu() {
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        let pgrp = parse::proc_stat(&own).unwrap().pgrp;
        let usage = group_usage(Path::new("/proc"), &[pgrp]);
        assert!(usage.memory_bytes > 0, "{usage:?}");
        assert!(usage.cpu_seconds >= 0.0);
        assert_eq!(group_usage(Path::new("/proc"), &[]), Usage::default());
        assert_eq!(group_usage(Path::new("/nonexistent"), &[pgrp]), Usage::default());
    }

    #[test]
    fn fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let write = |pid: &str, stat: &str, statm: &str| {
            std::fs::create_dir(dir.path().join(pid)).unwrap();
            std::fs::write(dir.path().join(pid).join("stat"), stat).unwrap();
            std::fs::write(dir.path().join(pid).join("statm"), statm).unwrap();
        };
        write("10", "10 (a b) S 1 10 10 0 -1 0 0 0 0 0 100 50 0 0 20", "9 3 0 0 0 0 0");
        write("11", "11 (c)) S 10 10 10 0 -1 0 0 0 0 0 30 20 0 0 20", "9 2 0 0 0 0 0");
        write("12", "12 (other) S 1 12 12 0 -1 0 0 0 0 0 999 999 0 0 20", "9 100 0 0 0 0 0");
        write("13", "garbage", "garbage");
        std::fs::create_dir(dir.path().join("self")).unwrap();
        let usage = group_usage(dir.path(), &[10]);
        let (ticks, page) = machine();
        assert_eq!(usage.memory_bytes, 5 * page);
        assert!((usage.cpu_seconds - 200.0 / ticks as f64).abs() < 1e-9, "{usage:?}");
    }
}

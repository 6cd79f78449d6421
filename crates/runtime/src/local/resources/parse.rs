//! Pure parsers for the kernel text files the resources module reads: `/proc/PID/stat`, `/proc/PID/statm`,
//! `/proc/self/mountinfo`, `/proc/self/cgroup`, `/proc/self/auxv`, and the flat `key value` files of cgroupfs
//! (`memory.stat`, `memory.oom_control`, `memory.events`, `cpu.stat`). None of them panics: malformed input
//! gives `None` (or skips the line, for the line-oriented files).

/// The fields of `/proc/PID/stat` that usage accounting needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 5: the process group id.
    pub pgrp: u32,
    /// Field 14: user time, in clock ticks.
    pub utime: u64,
    /// Field 15: system time, in clock ticks.
    pub stime: u64,
    /// Field 16: user time of waited-for children, in clock ticks.
    pub cutime: u64,
    /// Field 17: system time of waited-for children, in clock ticks.
    pub cstime: u64,
}

/// Parses one `/proc/PID/stat` line. `comm` (field 2) is in parentheses and may itself hold spaces and
/// parentheses, so the fields are counted from the *last* `)`.
pub fn proc_stat(line: &str) -> Option<ProcStat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    if close < open {
        return None;
    }
    // After the comm: field 3 (state) is index 0, so field N is index N - 3.
    let rest: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let signed = |n: usize| field(n)?.parse::<i64>().ok().map(|v| v.max(0) as u64);
    Some(ProcStat {
        pgrp: field(5)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        cutime: signed(16)?,
        cstime: signed(17)?,
    })
}

/// Parses `/proc/PID/statm` and returns the resident set size in pages (its second field).
pub fn statm_resident_pages(text: &str) -> Option<u64> {
    let mut fields = text.split_whitespace();
    fields.next()?.parse::<u64>().ok()?;
    fields.next()?.parse().ok()
}

/// Finds `key`'s value in a flat keyed file (`key value` per line), as `memory.stat`, `memory.oom_control`,
/// `memory.events` and `cpu.stat` are. Lines that do not parse are skipped.
pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        if fields.next()? != key {
            return None;
        }
        let value = fields.next()?.parse().ok()?;
        fields.next().is_none().then_some(value)
    })
}

/// Parses a single unsigned number with optional surrounding whitespace (`cpuacct.usage`, `memory.current`).
pub fn single_value(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// One line of `/proc/self/mountinfo`, reduced to what cgroup discovery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Field 4: the root of the mount within its filesystem (for cgroupfs, a path in the hierarchy).
    pub root: String,
    /// Field 5: where it is mounted, with the kernel's octal escapes (`\040` …) decoded.
    pub mount_point: String,
    /// The filesystem type after the ` - ` separator (`cgroup`, `cgroup2`, …).
    pub fstype: String,
    /// The super-block options (for cgroup v1, these name the controllers: `rw,memory`).
    pub super_options: Vec<String>,
}

/// Parses `/proc/self/mountinfo`; malformed lines are skipped.
pub fn mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(mount_line).collect()
}

fn mount_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields.iter().position(|f| *f == "-")?;
    if separator < 6 {
        return None;
    }
    let fstype = fields.get(separator + 1)?;
    let super_options = fields.get(separator + 3).map_or_else(Vec::new, |o| o.split(',').map(str::to_owned).collect());
    Some(Mount {
        root: unescape(fields[3])?,
        mount_point: unescape(fields[4])?,
        fstype: (*fstype).to_owned(),
        super_options,
    })
}

/// Decodes mountinfo's `\ooo` octal escapes (space, tab, newline, backslash).
fn unescape(field: &str) -> Option<String> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = bytes.get(i + 1..i + 4)?;
            let text = std::str::from_utf8(digits).ok()?;
            out.push(u8::from_str_radix(text, 8).ok()?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`. The v2 line is `0::/path` (no
/// controllers); v1 lines name their controllers (`4:memory:/a/b`, `2:cpu,cpuacct:/`, `1:name=systemd:/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLine {
    /// The hierarchy id (0 for the unified hierarchy).
    pub id: u32,
    /// The controllers bound to the hierarchy, empty for v2.
    pub controllers: Vec<String>,
    /// This process's cgroup in that hierarchy, starting with `/`.
    pub path: String,
}

/// Parses `/proc/self/cgroup`; malformed lines are skipped.
pub fn proc_cgroup(text: &str) -> Vec<CgroupLine> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            if !path.starts_with('/') {
                return None;
            }
            let controllers = controllers.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect();
            Some(CgroupLine { id, controllers, path: path.to_owned() })
        })
        .collect()
}

/// Reads one entry of `/proc/self/auxv` (native-endian pairs of machine words, ending with type 0):
/// `AT_PAGESZ` is 6 and `AT_CLKTCK` 17. Returns `None` when absent or when the bytes are not whole pairs.
pub fn auxv_entry(bytes: &[u8], wanted: u64) -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    if !bytes.len().is_multiple_of(2 * WORD) {
        return None;
    }
    let word = |chunk: &[u8]| -> Option<u64> {
        let array: [u8; WORD] = chunk.try_into().ok()?;
        Some(usize::from_ne_bytes(array) as u64)
    };
    for pair in bytes.chunks_exact(2 * WORD) {
        let kind = word(&pair[..WORD])?;
        if kind == 0 {
            return None;
        }
        if kind == wanted {
            return word(&pair[WORD..]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STAT: &str = "4242 (my (odd) prog) S 1 4240 4240 0 -1 4194560 1000 0 0 0 250 37 5 -1 20 0 1 0 \
                        12345 1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_with_spaces_and_parentheses_in_comm() {
        let stat = proc_stat(STAT).unwrap();
        assert_eq!(stat, ProcStat { pgrp: 4240, utime: 250, stime: 37, cutime: 5, cstime: 0 });
    }

    #[test]
    fn stat_comm_with_closing_parenthesis_and_fields_inside() {
        let line = "7 (a) S 1 2 3 0 -1 0 0 0 0 0 9 9 0 0) R 1 77 77 0 -1 0 0 0 0 0 11 12 1 2 20";
        assert_eq!(proc_stat(line).unwrap(), ProcStat { pgrp: 77, utime: 11, stime: 12, cutime: 1, cstime: 2 });
    }

    #[test]
    fn malformed_stat_is_none() {
        for line in ["", "12", "12 (x", "12 x) S 1 2", "12 (x) S 1 notanumber 3", ") (", "1 (x) S 1 2 3 0 -1"] {
            assert_eq!(proc_stat(line), None, "{line:?}");
        }
    }

    #[test]
    fn statm() {
        assert_eq!(statm_resident_pages("5000 1200 300 10 0 900 0\n"), Some(1200));
        assert_eq!(statm_resident_pages(""), None);
        assert_eq!(statm_resident_pages("5000"), None);
        assert_eq!(statm_resident_pages("x 1"), None);
    }

    #[test]
    fn memory_stat_and_events() {
        let stat = "cache 4096\nrss 81920\ntotal_inactive_file 8192\ninactive_file 4096\n";
        assert_eq!(keyed_value(stat, "total_inactive_file"), Some(8192));
        assert_eq!(keyed_value(stat, "inactive_file"), Some(4096));
        assert_eq!(keyed_value(stat, "missing"), None);
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(oom, "oom_kill"), Some(3));
        assert_eq!(keyed_value("oom_kill x\noom_kill 2 3\n", "oom_kill"), None);
        assert_eq!(keyed_value("usage_usec 1500000\nuser_usec 1\n", "usage_usec"), Some(1_500_000));
        assert_eq!(single_value(" 42\n"), Some(42));
        assert_eq!(single_value("max\n"), None);
    }

    #[test]
    fn mountinfo_v1_v2_and_escapes() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n\
                    41 31 0:38 / /sys/fs/cgroup/un\\040ified rw,relatime - cgroup2 cgroup2 rw\n\
                    garbage\n\
                    1 2 3 4 - x\n";
        let mounts = mountinfo(text);
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[1].fstype, "cgroup");
        assert_eq!(mounts[1].super_options, ["rw", "memory"]);
        assert_eq!(mounts[2].root, "/docker/abc");
        assert_eq!(mounts[2].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(mounts[3].mount_point, "/sys/fs/cgroup/un ified");
        assert_eq!(mounts[3].fstype, "cgroup2");
        assert!(mountinfo("1 2 3 /bad\\04 /x rw - cgroup cgroup rw").is_empty());
    }

    #[test]
    fn proc_cgroup_v1_and_v2() {
        let v1 = "9:name=systemd:/\n4:memory:/process_api/cf2a\n2:cpu,cpuacct:/\n0::/\n";
        let lines = proc_cgroup(v1);
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[1],
            CgroupLine { id: 4, controllers: vec!["memory".into()], path: "/process_api/cf2a".into() }
        );
        assert_eq!(lines[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(lines[3], CgroupLine { id: 0, controllers: vec![], path: "/".into() });
        let v2 = proc_cgroup("0::/user.slice/a:b.scope\n");
        assert_eq!(v2[0].path, "/user.slice/a:b.scope");
        assert!(proc_cgroup("x::/\n1:memory\n2:cpu:relative\n").is_empty());
    }

    #[test]
    fn auxv() {
        let mut bytes = Vec::new();
        for (k, v) in [(33usize, 1usize), (6, 4096), (17, 100), (0, 0)] {
            bytes.extend_from_slice(&k.to_ne_bytes());
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(auxv_entry(&bytes, 6), Some(4096));
        assert_eq!(auxv_entry(&bytes, 17), Some(100));
        assert_eq!(auxv_entry(&bytes, 99), None);
        assert_eq!(auxv_entry(&bytes[..bytes.len() - 1], 6), None);
        assert_eq!(auxv_entry(&[], 6), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC*", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = proc_stat(&text);
            let _ = statm_resident_pages(&text);
            let _ = keyed_value(&text, "oom_kill");
            let _ = mountinfo(&text);
            let _ = proc_cgroup(&text);
            let _ = auxv_entry(&bytes, 6);
        }

        #[test]
        fn stat_round_trips_any_comm(comm in "[ -~]{0,15}", pgrp in 1u32.., utime in 0u64..1 << 40) {
            let line = format!("9 ({comm}) S 1 {pgrp} {pgrp} 0 -1 0 0 0 0 0 {utime} 2 3 4 20 0 1 0");
            prop_assert_eq!(proc_stat(&line), Some(ProcStat { pgrp, utime, stime: 2, cutime: 3, cstime: 4 }));
        }
    }
}

//! [`Confinement`]: one replica's cgroup folders (or its rlimit, in the fallback), the argv that starts a
//! program inside them, its usage and OOM-kill readings, and removal.
//!
//! Folders are `<own>/sedge/<function>-<pid>/<replica>` in each hierarchy, names sanitised to `[A-Za-z0-9._-]`;
//! the process id keeps one sedge's folders apart from another's under the same parent cgroup (two gateways on
//! one machine, or tests side by side), which would otherwise share, and remove, each other's function folders.
//! [`Confinement::remove`] deletes them once the processes are gone. There is deliberately no `Drop`: folders are
//! named by replica id, and a replica restarted under the same id must not lose its new folder to the old
//! value being dropped; so the owner calls `remove` when the replica's processes have exited.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::detect::{Cgroups, Mode, enable};
use super::{Limits, Usage, parse, procfs};

/// CFS period written with every CPU limit, in microseconds.
const PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts, in microseconds (1 ms, i.e. 10 millicores).
const MIN_QUOTA_US: u64 = 1_000;

/// One replica's confinement, made by [`Cgroups::confine`].
#[derive(Debug)]
pub struct Confinement {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// One folder per distinct hierarchy, with the controllers sedge uses there.
    V1(Vec<(Vec<&'static str>, PathBuf)>),
    V2(PathBuf),
    Rlimit(Option<u64>),
}

impl Cgroups {
    /// Creates the cgroup folders of replica `replica_id` of `function` (`name.namespace`) and writes `limits`
    /// into them: v1 `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes` when swap is accounted, so
    /// swap cannot dodge the limit), `cpu.cfs_period_us` = 100000 and `cpu.cfs_quota_us` = millicores × 100;
    /// v2 `memory.max`, `memory.swap.max` = 0 and `cpu.max` = `"<quota> 100000"`. Unset limits are written as
    /// unlimited, so a reused folder does not keep an old limit. In the fallback nothing is created and only the
    /// memory limit is kept (as an address-space rlimit). Errors name the file that could not be written; the
    /// folders made so far are removed.
    pub fn confine(&self, function: &str, replica_id: &str, limits: Limits) -> io::Result<Confinement> {
        let (function, replica) = (function_folder(function), sanitise(replica_id));
        let confinement = Confinement {
            kind: match &self.mode {
                Mode::Off { .. } => Kind::Rlimit(limits.memory_bytes),
                Mode::V1(hierarchies) => Kind::V1(
                    hierarchies
                        .iter()
                        .map(|h| (h.controllers.clone(), h.parent.join(&function).join(&replica)))
                        .collect(),
                ),
                Mode::V2 { parent, .. } => Kind::V2(parent.join(&function).join(&replica)),
            },
        };
        if let Err(e) = confinement.apply(limits, self.can_limit_cpu()) {
            confinement.remove_dirs(1);
            return Err(e);
        }
        Ok(confinement)
    }
}

impl Confinement {
    /// Creates the folders and writes the limits (see [`Cgroups::confine`]).
    fn apply(&self, limits: Limits, cpu: bool) -> io::Result<()> {
        match &self.kind {
            Kind::Rlimit(_) => {}
            Kind::V1(dirs) => {
                for (controllers, dir) in dirs {
                    create_dir(dir)?;
                    if controllers.contains(&"memory") {
                        write_memory_v1(dir, limits.memory_bytes)?;
                    }
                    if controllers.contains(&"cpu") {
                        write(&dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                        write(&dir.join("cpu.cfs_quota_us"), &limits.cpu_millicores.map_or("-1".into(), quota))?;
                    }
                }
            }
            Kind::V2(dir) => {
                let function_dir = dir.parent().unwrap_or(dir);
                create_dir(function_dir)?;
                let subtree = function_dir.join("cgroup.subtree_control");
                enable(function_dir, "memory").map_err(|e| context(&subtree, e))?;
                if cpu {
                    enable(function_dir, "cpu").map_err(|e| context(&subtree, e))?;
                }
                create_dir(dir)?;
                write(&dir.join("memory.max"), &limits.memory_bytes.map_or("max".into(), |b| b.to_string()))?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, if limits.memory_bytes.is_some() { "0" } else { "max" })?;
                }
                if cpu {
                    let quota = limits.cpu_millicores.map_or("max".into(), quota);
                    write(&dir.join("cpu.max"), &format!("{quota} {PERIOD_US}"))?;
                }
            }
        }
        if limits.cpu_millicores.is_some() && !cpu {
            // Said once at startup by `Cgroups::describe` / `detect`; repeated here only for debugging.
            tracing::debug!("no cpu controller: CPU limit not enforced");
        }
        Ok(())
    }

    /// An argv that runs `argv` inside this confinement:
    /// `/bin/sh -c 'echo $$ > DIR/cgroup.procs && … && exec "$@"' sh ARGV…`. The shell joins each cgroup and
    /// then becomes the program (same pid), so the program and all it forks are confined from the start; if a
    /// join fails, the shell exits non-zero instead of running the program unconfined. In the fallback the
    /// line is `ulimit -v KIB && exec "$@"`: `RLIMIT_AS` bounds virtual address space, not resident memory, so
    /// it is coarse (a program that maps much and touches little hits it early). An empty `argv` runs nothing.
    pub fn command(&self, argv: &[String]) -> Vec<String> {
        let mut script = String::new();
        match &self.kind {
            Kind::Rlimit(Some(bytes)) => script.push_str(&format!("ulimit -v {} && ", bytes.div_ceil(1024).max(1))),
            Kind::Rlimit(None) => {}
            Kind::V1(_) | Kind::V2(_) => {
                for file in self.procs_files() {
                    script.push_str(&format!("echo $$ > {} && ", sh_quote(&file.to_string_lossy())));
                }
            }
        }
        script.push_str("exec \"$@\"");
        let mut command = vec!["/bin/sh".to_owned(), "-c".to_owned(), script, "sh".to_owned()];
        command.extend(argv.iter().cloned());
        command
    }

    /// The `cgroup.procs` files a process writes its pid into to join this confinement (one per hierarchy on
    /// v1, one on v2, none in the fallback).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs().map(|dir| dir.join("cgroup.procs")).collect()
    }

    /// The address-space rlimit in bytes a process should set on itself in the fallback; `None` under cgroups
    /// or without a memory limit.
    pub fn address_space_limit(&self) -> Option<u64> {
        match self.kind {
            Kind::Rlimit(bytes) => bytes,
            Kind::V1(_) | Kind::V2(_) => None,
        }
    }

    /// What the replica uses now. Under cgroups: v1 `cpuacct.usage` (ns) and `memory.usage_in_bytes` minus
    /// `total_inactive_file` from `memory.stat`; v2 `usage_usec` from `cpu.stat` and `memory.current` minus
    /// `inactive_file`. `pgids` is used only for what the cgroups cannot tell (the fallback, a hierarchy
    /// missing, or folders already removed): the sum over the processes of those process groups in `/proc`.
    pub fn usage(&self, pgids: &[u32]) -> Usage {
        let (cpu, memory) = match &self.kind {
            Kind::Rlimit(_) => (None, None),
            Kind::V1(_) => (
                self.dir_with("cpuacct").and_then(|d| read_value(&d.join("cpuacct.usage"))).map(|ns| ns as f64 / 1e9),
                self.dir_with("memory").and_then(|d| working_set(d, "memory.usage_in_bytes", "total_inactive_file")),
            ),
            Kind::V2(dir) => (
                read_keyed(&dir.join("cpu.stat"), "usage_usec").map(|us| us as f64 / 1e6),
                working_set(dir, "memory.current", "inactive_file"),
            ),
        };
        let from_proc = || procfs::group_usage(Path::new("/proc"), pgids);
        match (cpu, memory) {
            (Some(cpu_seconds), Some(memory_bytes)) => Usage { cpu_seconds, memory_bytes },
            (cpu, memory) => {
                let proc = from_proc();
                Usage {
                    cpu_seconds: cpu.unwrap_or(proc.cpu_seconds),
                    memory_bytes: memory.unwrap_or(proc.memory_bytes),
                }
            }
        }
    }

    /// How many processes the kernel's OOM killer killed in this confinement: the `oom_kill` line of v1
    /// `memory.oom_control` or v2 `memory.events`. Kernels before 4.13 have no v1 `oom_kill` line and give 0
    /// (`memory.failcnt` counts the times usage hit the limit and was reclaimed, not kills, so it is no stand-in).
    /// Always 0 in the fallback, where the program sees allocation failures instead.
    pub fn oom_kills(&self) -> u64 {
        match &self.kind {
            Kind::Rlimit(_) => None,
            Kind::V1(_) => self.dir_with("memory").and_then(|d| read_keyed(&d.join("memory.oom_control"), "oom_kill")),
            Kind::V2(dir) => read_keyed(&dir.join("memory.events"), "oom_kill"),
        }
        .unwrap_or(0)
    }

    /// Removes the replica's folders, and its function's folder when no other replica is left in it. Call it
    /// after the processes have exited: a cgroup with processes cannot be removed, so this retries for up to
    /// half a second (blocking) and then logs a warning and gives up. Removing twice is harmless.
    pub fn remove(&self) {
        self.remove_dirs(50);
    }

    fn remove_dirs(&self, attempts: u32) {
        for dir in self.dirs() {
            let mut tries = 0;
            loop {
                tries += 1;
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) if tries < attempts && e.kind() == io::ErrorKind::ResourceBusy => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) if attempts == 1 => {
                        tracing::debug!(cgroup = %dir.display(), error = %e, "cgroup not removed");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(cgroup = %dir.display(), error = %e, "could not remove replica cgroup");
                        break;
                    }
                }
            }
            // The function's folder goes with its last replica; any error means another is still there.
            if let Some(function_dir) = dir.parent() {
                let _ = std::fs::remove_dir(function_dir);
            }
        }
    }

    fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        let dirs: Vec<&PathBuf> = match &self.kind {
            Kind::V1(dirs) => dirs.iter().map(|(_, dir)| dir).collect(),
            Kind::V2(dir) => vec![dir],
            Kind::Rlimit(_) => vec![],
        };
        dirs.into_iter()
    }

    fn dir_with(&self, controller: &str) -> Option<&Path> {
        let Kind::V1(dirs) = &self.kind else { return None };
        dirs.iter().find(|(controllers, _)| controllers.contains(&controller)).map(|(_, dir)| dir.as_path())
    }
}

/// A cgroup folder name from a function or replica name: `[A-Za-z0-9._-]` kept, anything else `_`, at most
/// 200 bytes, never `.`/`..`/empty, and never a name cgroupfs uses for its own files (`memory.stat`, `tasks` …).
/// The function's folder name: sanitised, with this process's id (see the module docs).
fn function_folder(function: &str) -> String {
    format!("{}-{}", sanitise(function), std::process::id())
}

fn sanitise(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(200)
        .collect();
    let reserved = ["cgroup", "memory", "cpu", "cpuacct", "cpuset", "io", "pids", "hugetlb", "rdma", "misc", "blkio"]
        .iter()
        .any(|prefix| clean.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')))
        || matches!(clean.as_str(), "tasks" | "notify_on_release" | "release_agent");
    if reserved || clean.is_empty() || clean.chars().all(|c| c == '.') {
        clean.insert(0, '_');
    }
    clean
}

/// Quotes `text` as one word for `/bin/sh`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The CFS quota for `millicores`, in microseconds per 100 ms period.
fn quota(millicores: u64) -> String {
    millicores.saturating_mul(PERIOD_US / 1000).max(MIN_QUOTA_US).to_string()
}

/// v1 memory limits: memsw (memory + swap) must never be below the memory limit, so it is lifted first, then
/// both are set to the same value.
fn write_memory_v1(dir: &Path, bytes: Option<u64>) -> io::Result<()> {
    let value = bytes.map_or("-1".to_owned(), |b| b.to_string());
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let swap_accounted = memsw.exists();
    if swap_accounted {
        write(&memsw, "-1")?;
    }
    write(&dir.join("memory.limit_in_bytes"), &value)?;
    if swap_accounted {
        write(&memsw, &value)?;
    }
    Ok(())
}

fn working_set(dir: &Path, usage_file: &str, inactive_key: &str) -> Option<u64> {
    let usage = read_value(&dir.join(usage_file))?;
    let inactive = read_keyed(&dir.join("memory.stat"), inactive_key).unwrap_or(0);
    Some(usage.saturating_sub(inactive))
}

fn read_value(path: &Path) -> Option<u64> {
    parse::single_value(&std::fs::read_to_string(path).ok()?)
}

fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    parse::keyed_value(&std::fs::read_to_string(path).ok()?, key)
}

/// `mkdir -p`, retried when the function's empty folder was removed in between by its last replica leaving.
fn create_dir(dir: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::create_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 => tries += 1,
            result => return result.map_err(|e| context(dir, e)),
        }
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| context(path, e))
}

fn context(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::detect::Hierarchy;
    use super::*;

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn v1_in(root: &Path) -> Cgroups {
        let hierarchy = |controllers: Vec<&'static str>, name: &str| {
            let parent = root.join(name).join("sedge");
            std::fs::create_dir_all(&parent).unwrap();
            Hierarchy { controllers, parent }
        };
        Cgroups {
            mode: Mode::V1(vec![hierarchy(vec!["memory"], "memory"), hierarchy(vec!["cpu", "cpuacct"], "cpu,cpuacct")]),
        }
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitise("echo.openfaas-fn"), "echo.openfaas-fn");
        assert_eq!(sanitise("a/../b c"), "a_.._b_c");
        assert_eq!(sanitise(".."), "_..");
        assert_eq!(sanitise(""), "_");
        assert_eq!(sanitise("memory.stat"), "_memory.stat");
        assert_eq!(sanitise("cgroup.procs"), "_cgroup.procs");
        assert_eq!(sanitise("tasks"), "_tasks");
        assert_eq!(sanitise("memoryhog.fn"), "memoryhog.fn");
        assert_eq!(sanitise(&"é".repeat(300)).len(), 200);
    }

    #[test]
    fn quotas_and_quoting() {
        assert_eq!(quota(200), "20000");
        assert_eq!(quota(2500), "250000");
        assert_eq!(quota(0), "1000");
        assert_eq!(sh_quote("/a b/it's"), r"'/a b/it'\''s'");
    }

    #[test]
    fn v1_writes_limits_and_command_joins_every_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        let cgroups = v1_in(root.path());
        let memsw =
            root.path().join("memory/sedge").join(function_folder("f.ns")).join("r1/memory.memsw.limit_in_bytes");
        std::fs::create_dir_all(memsw.parent().unwrap()).unwrap();
        std::fs::write(&memsw, "-1").unwrap();
        let limits = Limits { memory_bytes: Some(64 << 20), cpu_millicores: Some(250) };
        let confinement = cgroups.confine("f.ns", "r1", limits).unwrap();
        let memory = root.path().join("memory/sedge").join(function_folder("f.ns")).join("r1");
        let cpu = root.path().join("cpu,cpuacct/sedge").join(function_folder("f.ns")).join("r1");
        assert_eq!(read(memory.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(memsw), "67108864");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "25000");
        assert_eq!(confinement.procs_files(), [memory.join("cgroup.procs"), cpu.join("cgroup.procs")]);
        assert_eq!(confinement.address_space_limit(), None);

        std::fs::write(cpu.join("cpuacct.usage"), "1500000000\n").unwrap();
        std::fs::write(memory.join("memory.usage_in_bytes"), "10000\n").unwrap();
        std::fs::write(memory.join("memory.stat"), "cache 1\ntotal_inactive_file 4000\n").unwrap();
        std::fs::write(memory.join("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        assert_eq!(confinement.usage(&[]), Usage { cpu_seconds: 1.5, memory_bytes: 6000 });
        assert_eq!(confinement.oom_kills(), 2);

        // The argv really runs the program, with its arguments intact, after joining each hierarchy.
        let argv: Vec<String> =
            ["/bin/sh", "-c", "printf '%s|' \"$@\"", "x", "a b", "it's", "$HOME"].map(String::from).into();
        let command = confinement.command(&argv);
        let output = std::process::Command::new(&command[0]).args(&command[1..]).output().unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "a b|it's|$HOME|");
        let pid = read(memory.join("cgroup.procs"));
        assert!(pid.trim().parse::<u32>().is_ok(), "{pid:?}");
        assert_eq!(pid, read(cpu.join("cgroup.procs")));
    }

    #[test]
    fn v1_unset_limits_are_unlimited() {
        let root = tempfile::tempdir().unwrap();
        let confinement = v1_in(root.path()).confine("f", "r", Limits::default()).unwrap();
        assert_eq!(
            read(root.path().join("memory/sedge").join(function_folder("f")).join("r/memory.limit_in_bytes")),
            "-1"
        );
        assert_eq!(
            read(root.path().join("cpu,cpuacct/sedge").join(function_folder("f")).join("r/cpu.cfs_quota_us")),
            "-1"
        );
        drop(confinement);
    }

    #[test]
    fn a_failed_join_does_not_run_the_program() {
        let root = tempfile::tempdir().unwrap();
        let cgroups = Cgroups { mode: Mode::V2 { parent: root.path().join("sedge"), cpu: false } };
        let confinement = cgroups.confine("f", "r", Limits::default()).unwrap();
        std::fs::create_dir(root.path().join("sedge").join(function_folder("f")).join("r/cgroup.procs")).unwrap();
        let command = confinement.command(&["/bin/echo".to_owned(), "ran".to_owned()]);
        let output = std::process::Command::new(&command[0]).args(&command[1..]).output().unwrap();
        assert!(!output.status.success());
        assert!(!String::from_utf8_lossy(&output.stdout).contains("ran"));
    }

    #[test]
    fn v2_writes_limits() {
        let root = tempfile::tempdir().unwrap();
        let cgroups = Cgroups { mode: Mode::V2 { parent: root.path().join("sedge"), cpu: true } };
        let function = root.path().join("sedge").join(function_folder("f.ns"));
        let dir = function.join("r-1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.swap.max"), "max").unwrap();
        let limits = Limits { memory_bytes: Some(1 << 30), cpu_millicores: Some(1500) };
        let confinement = cgroups.confine("f.ns", "r-1", limits).unwrap();
        assert_eq!(read(dir.join("memory.max")), "1073741824");
        assert_eq!(read(dir.join("memory.swap.max")), "0");
        assert_eq!(read(dir.join("cpu.max")), "150000 100000");
        assert_eq!(read(function.join("cgroup.subtree_control")), "+cpu");
        assert_eq!(confinement.procs_files(), [dir.join("cgroup.procs")]);

        std::fs::write(dir.join("cpu.stat"), "usage_usec 2500000\nuser_usec 2000000\n").unwrap();
        std::fs::write(dir.join("memory.current"), "9000\n").unwrap();
        std::fs::write(dir.join("memory.stat"), "anon 1\ninactive_file 1000\n").unwrap();
        std::fs::write(dir.join("memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(confinement.usage(&[]), Usage { cpu_seconds: 2.5, memory_bytes: 8000 });
        assert_eq!(confinement.oom_kills(), 1);

        let unlimited = cgroups.confine("f.ns", "r-2", Limits::default()).unwrap();
        assert_eq!(read(function.join("r-2/memory.max")), "max");
        assert_eq!(read(function.join("r-2/cpu.max")), "max 100000");
        drop(unlimited);
    }

    #[test]
    fn removal_takes_the_function_folder_with_the_last_replica() {
        let root = tempfile::tempdir().unwrap();
        let cgroups = Cgroups { mode: Mode::V2 { parent: root.path().join("sedge"), cpu: false } };
        // Real cgroup folders hold only virtual files; here the limit files are real, so write none.
        let limits = Limits::default();
        let function = root.path().join("sedge").join(function_folder("f"));
        let a = cgroups.confine("f", "a", limits).unwrap();
        let b = cgroups.confine("f", "b", limits).unwrap();
        for dir in ["a", "b"] {
            std::fs::remove_file(function.join(dir).join("memory.max")).unwrap();
        }
        std::fs::remove_file(function.join("cgroup.subtree_control")).unwrap();
        a.remove();
        assert!(!function.join("a").exists());
        assert!(function.join("b").exists());
        b.remove();
        b.remove();
        assert!(!function.exists());
    }

    #[test]
    fn fallback_uses_ulimit_and_proc() {
        let cgroups = Cgroups::unavailable("test");
        let limits = Limits { memory_bytes: Some((64 << 20) + 1), cpu_millicores: Some(100) };
        let confinement = cgroups.confine("f", "r", limits).unwrap();
        assert_eq!(confinement.address_space_limit(), Some((64 << 20) + 1));
        assert!(confinement.procs_files().is_empty());
        assert_eq!(confinement.oom_kills(), 0);
        let command = confinement.command(&["true".to_owned()]);
        assert_eq!(command, ["/bin/sh", "-c", "ulimit -v 65537 && exec \"$@\"", "sh", "true"]);
        let unlimited = cgroups.confine("f", "r", Limits::default()).unwrap();
        assert_eq!(unlimited.command(&[]), ["/bin/sh", "-c", "exec \"$@\"", "sh"]);
        assert_eq!(unlimited.usage(&[]), Usage::default());
    }
}

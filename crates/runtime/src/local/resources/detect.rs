//! [`Cgroups`]: which cgroup hierarchies this machine has, where sedge's own cgroup sits in each, and whether
//! sedge may create replica cgroups under it. Read from `/proc/self/cgroup` and `/proc/self/mountinfo` once per
//! provider; everything after that is paths.

use std::io;
use std::path::{Path, PathBuf};

use super::parse::{self, CgroupLine, Mount};

/// The v1 controllers sedge uses, in the order it reports them.
const V1_CONTROLLERS: [&str; 3] = ["memory", "cpu", "cpuacct"];
/// The folder under sedge's own cgroup that holds every replica's.
const PARENT: &str = "sedge";
/// On cgroup v2, the leaf sedge moves itself into when its own cgroup must hand controllers down (a cgroup with
/// processes cannot). Re-detecting from inside it treats its parent as sedge's own cgroup.
const SELF_LEAF: &str = "sedge-main";

/// The cgroup setup for one provider: cheap to clone, shared by all its replicas.
#[derive(Debug, Clone)]
pub struct Cgroups {
    pub(super) mode: Mode,
}

/// The backend [`Cgroups::detect`] settled on.
#[derive(Debug, Clone)]
pub(super) enum Mode {
    /// cgroup v1: one entry per distinct hierarchy sedge uses (a co-mounted `cpu,cpuacct` is one entry).
    V1(Vec<Hierarchy>),
    /// cgroup v2: `<own>/sedge`, with `memory` (and `cpu` when `cpu` is true) enabled for its children.
    V2 { parent: PathBuf, cpu: bool },
    /// No usable cgroup: limits by `setrlimit`, usage from `/proc`.
    Off { reason: String },
}

/// One v1 hierarchy: the controllers sedge uses in it and its `<own>/sedge` folder.
#[derive(Debug, Clone)]
pub(super) struct Hierarchy {
    pub(super) controllers: Vec<&'static str>,
    pub(super) parent: PathBuf,
}

impl Cgroups {
    /// Detects the cgroup setup of this process, creates the `<own>/sedge` parent folders and checks they take
    /// sub-folders; on any failure returns [`Cgroups::unavailable`] with the reason. (`sedge up --cgroups off`
    /// skips detection and uses [`Cgroups::unavailable`].)
    ///
    /// cgroup v1 is used when the `memory` controller is mounted as a v1 hierarchy (a hybrid machine's empty
    /// unified hierarchy is then ignored); otherwise cgroup v2 when the unified hierarchy offers `memory`. On v2,
    /// if sedge's own cgroup holds processes it cannot enable controllers for its children, so sedge moves
    /// itself into the leaf `<own>/sedge-main` — only when it is the sole process there.
    pub fn detect() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cgroups = Self::detect_from(&read("/proc/self/cgroup"), &read("/proc/self/mountinfo"), std::process::id());
        tracing::debug!(cgroups = %cgroups.describe(), "detected cgroups");
        cgroups
    }

    /// No cgroups: replicas get an address-space rlimit and no CPU limit.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self { mode: Mode::Off { reason: reason.into() } }
    }

    /// A line for the startup log: `cgroup v1: memory, cpu, cpuacct`, `cgroup v2: memory, cpu` or
    /// `no cgroups (reason): memory limits by setrlimit`.
    pub fn describe(&self) -> String {
        match &self.mode {
            Mode::V1(hierarchies) => {
                let names: Vec<&str> = hierarchies.iter().flat_map(|h| h.controllers.iter().copied()).collect();
                format!("cgroup v1: {}", names.join(", "))
            }
            Mode::V2 { cpu: true, .. } => "cgroup v2: memory, cpu".to_owned(),
            Mode::V2 { cpu: false, .. } => "cgroup v2: memory".to_owned(),
            Mode::Off { reason } => format!("no cgroups ({reason}): memory limits by setrlimit"),
        }
    }

    /// Whether replicas get cgroups (false: the setrlimit fallback).
    pub fn is_available(&self) -> bool {
        !matches!(self.mode, Mode::Off { .. })
    }

    /// Whether [`Limits::cpu_millicores`](super::Limits::cpu_millicores) is enforced (a `cpu` controller is in use).
    pub fn can_limit_cpu(&self) -> bool {
        match &self.mode {
            Mode::V1(hierarchies) => hierarchies.iter().any(|h| h.controllers.contains(&"cpu")),
            Mode::V2 { cpu, .. } => *cpu,
            Mode::Off { .. } => false,
        }
    }

    /// [`Cgroups::detect`] from the given `/proc/self/cgroup` and `/proc/self/mountinfo` texts; `pid` is the
    /// process that may move itself on v2. The paths in `mountinfo` are used as they are (tests point them at a
    /// temporary folder).
    pub(super) fn detect_from(proc_cgroup: &str, mountinfo: &str, pid: u32) -> Self {
        let lines = parse::proc_cgroup(proc_cgroup);
        let mounts = parse::mountinfo(mountinfo);
        let v1_memory = mounts.iter().any(|m| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == "memory"));
        let mode = if v1_memory { v1(&lines, &mounts) } else { v2(&lines, &mounts, pid) };
        match mode {
            Ok(mode) => Self { mode },
            Err(reason) => Self::unavailable(reason),
        }
    }
}

/// sedge's own folder in the hierarchy mounted at `mount`, given its path there from `/proc/self/cgroup`.
fn own_dir(mount: &Mount, path: &str) -> Option<PathBuf> {
    let relative = if mount.root == "/" {
        path
    } else {
        path.strip_prefix(mount.root.as_str()).filter(|rest| rest.is_empty() || rest.starts_with('/'))?
    };
    Some(Path::new(&mount.mount_point).join(relative.trim_start_matches('/')))
}

fn v1(lines: &[CgroupLine], mounts: &[Mount]) -> Result<Mode, String> {
    let mut hierarchies: Vec<Hierarchy> = Vec::new();
    for controller in V1_CONTROLLERS {
        if hierarchies.iter().any(|h| h.controllers.contains(&controller)) {
            continue;
        }
        let Some(line) = lines.iter().find(|l| l.controllers.iter().any(|c| c == controller)) else {
            continue;
        };
        let own = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == controller))
            .find_map(|m| own_dir(m, &line.path));
        let Some(own) = own else { continue };
        let parent = own.join(PARENT);
        if let Err(e) = prepare(&parent) {
            if controller == "memory" {
                return Err(format!("cgroup v1 memory at {}: {e}", parent.display()));
            }
            tracing::warn!(controller, error = %e, "cgroup v1 controller not writable; not used");
            continue;
        }
        let controllers =
            V1_CONTROLLERS.into_iter().filter(|c| line.controllers.iter().any(|l| l == c)).collect::<Vec<_>>();
        hierarchies.push(Hierarchy { controllers, parent });
    }
    if !hierarchies.iter().any(|h| h.controllers.contains(&"memory")) {
        return Err("cgroup v1 memory hierarchy not found in /proc/self/cgroup".to_owned());
    }
    Ok(Mode::V1(hierarchies))
}

fn v2(lines: &[CgroupLine], mounts: &[Mount], pid: u32) -> Result<Mode, String> {
    let line = lines.iter().find(|l| l.id == 0 && l.controllers.is_empty()).ok_or("no cgroup found")?;
    let mut own = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup2")
        .find_map(|m| own_dir(m, &line.path))
        .ok_or("no cgroup2 mount holds this process's cgroup")?;
    if own.file_name().is_some_and(|n| n == SELF_LEAF) {
        own.pop();
    }
    let available = std::fs::read_to_string(own.join("cgroup.controllers"))
        .map_err(|e| format!("{}: {e}", own.join("cgroup.controllers").display()))?;
    let available: Vec<&str> = available.split_whitespace().collect();
    if !available.contains(&"memory") {
        return Err(format!("cgroup v2 memory controller not delegated to {}", own.display()));
    }
    if let Err(first) = enable(&own, "memory") {
        move_self_to_leaf(&own, pid).map_err(|e| format!("cgroup v2 {}: {first}; {e}", own.display()))?;
        enable(&own, "memory").map_err(|e| format!("cgroup v2 {}: {e}", own.display()))?;
    }
    let parent = own.join(PARENT);
    prepare(&parent).map_err(|e| format!("cgroup v2 {}: {e}", parent.display()))?;
    enable(&parent, "memory").map_err(|e| format!("cgroup v2 {}: {e}", parent.display()))?;
    let cpu = available.contains(&"cpu") && enable(&own, "cpu").and_then(|()| enable(&parent, "cpu")).is_ok();
    if !cpu {
        tracing::warn!(cgroup = %own.display(), "cgroup v2 cpu controller not available; CPU limits not enforced");
    }
    Ok(Mode::V2 { parent, cpu })
}

/// Creates `parent` and checks that a sub-folder can be made in it.
fn prepare(parent: &Path) -> io::Result<()> {
    // Unique per call: detections may run at once (threads of one process), and must not remove each other's.
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    std::fs::create_dir_all(parent)?;
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = parent.join(format!("probe-{}-{n}", std::process::id()));
    match std::fs::create_dir(&probe) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    match std::fs::remove_dir(&probe) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Enables `controller` for the children of the v2 cgroup `dir`.
pub(super) fn enable(dir: &Path, controller: &str) -> io::Result<()> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&file).unwrap_or_default();
    if enabled.split_whitespace().any(|c| c == controller) {
        return Ok(());
    }
    std::fs::write(&file, format!("+{controller}"))
}

/// Moves process `pid` from `own` into `own/sedge-main`, when it is the only process in `own`.
fn move_self_to_leaf(own: &Path, pid: u32) -> io::Result<()> {
    let procs = std::fs::read_to_string(own.join("cgroup.procs"))?;
    if procs.split_whitespace().any(|p| p != pid.to_string()) {
        return Err(io::Error::other("other processes share sedge's cgroup, so it cannot delegate controllers"));
    }
    let leaf = own.join(SELF_LEAF);
    std::fs::create_dir_all(&leaf)?;
    std::fs::write(leaf.join("cgroup.procs"), pid.to_string())?;
    tracing::info!(cgroup = %leaf.display(), "moved sedge into a leaf cgroup to delegate memory and cpu");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mountinfo(fstype_lines: &[(&str, &str, &str)]) -> String {
        fstype_lines
            .iter()
            .enumerate()
            .map(|(i, (point, fstype, options))| format!("{i} 1 0:{i} / {point} rw - {fstype} {fstype} {options}\n"))
            .collect()
    }

    #[test]
    fn unavailable_describes_itself() {
        let cgroups = Cgroups::unavailable("read-only");
        assert_eq!(cgroups.describe(), "no cgroups (read-only): memory limits by setrlimit");
        assert!(!cgroups.is_available() && !cgroups.can_limit_cpu());
    }

    #[test]
    fn own_dir_strips_the_mount_root() {
        let mount = |root: &str| Mount {
            root: root.into(),
            mount_point: "/sys/fs/cgroup/memory".into(),
            fstype: "cgroup".into(),
            super_options: vec![],
        };
        assert_eq!(own_dir(&mount("/"), "/a/b"), Some("/sys/fs/cgroup/memory/a/b".into()));
        assert_eq!(own_dir(&mount("/docker/x"), "/docker/x/y"), Some("/sys/fs/cgroup/memory/y".into()));
        assert_eq!(own_dir(&mount("/docker/x"), "/docker/x"), Some("/sys/fs/cgroup/memory".into()));
        assert_eq!(own_dir(&mount("/docker/x"), "/docker/xy"), None);
        assert_eq!(own_dir(&mount("/docker/x"), "/"), None);
    }

    #[test]
    fn v1_in_a_fake_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        let at = |name: &str| root.path().join(name).display().to_string();
        let info = mountinfo(&[
            (&at("memory"), "cgroup", "rw,memory"),
            (&at("cpu,cpuacct"), "cgroup", "rw,cpu,cpuacct"),
            (&at("unified"), "cgroup2", "rw"),
        ]);
        let cgroups = Cgroups::detect_from("4:memory:/outer/me\n2:cpu,cpuacct:/\n0::/\n", &info, 1);
        assert_eq!(cgroups.describe(), "cgroup v1: memory, cpu, cpuacct");
        assert!(cgroups.can_limit_cpu());
        assert!(root.path().join("memory/outer/me/sedge").is_dir());
        assert!(root.path().join("cpu,cpuacct/sedge").is_dir());
        assert!(!root.path().join("unified/sedge").exists());
    }

    #[test]
    fn v1_without_a_memory_line_is_unavailable() {
        let info = mountinfo(&[("/nonexistent/memory", "cgroup", "rw,memory")]);
        let cgroups = Cgroups::detect_from("2:cpu:/\n", &info, 1);
        assert!(!cgroups.is_available(), "{}", cgroups.describe());
    }

    #[test]
    fn v1_not_writable_is_unavailable() {
        let info = mountinfo(&[("/proc/version", "cgroup", "rw,memory")]);
        let cgroups = Cgroups::detect_from("4:memory:/\n", &info, 1);
        assert!(
            cgroups.describe().starts_with("no cgroups (cgroup v1 memory at /proc/version/sedge"),
            "{}",
            cgroups.describe()
        );
    }

    #[test]
    fn v2_enables_controllers_down_to_sedge() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("svc");
        std::fs::create_dir(&own).unwrap();
        std::fs::write(own.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        let info = mountinfo(&[(&root.path().display().to_string(), "cgroup2", "rw")]);
        let cgroups = Cgroups::detect_from("0::/svc\n", &info, 1);
        assert_eq!(cgroups.describe(), "cgroup v2: memory, cpu");
        // A plain file keeps only the last write; cgroupfs accumulates them.
        assert_eq!(std::fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(), "+cpu");
        assert_eq!(std::fs::read_to_string(own.join("sedge/cgroup.subtree_control")).unwrap(), "+cpu");
        // Detecting again from the leaf sedge moved into uses the same parent.
        let again = Cgroups::detect_from("0::/svc/sedge-main\n", &info, 1);
        assert!(matches!(again.mode, Mode::V2 { ref parent, .. } if *parent == own.join("sedge")));
    }

    #[test]
    fn v2_without_memory_is_unavailable() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu pids\n").unwrap();
        let info = mountinfo(&[(&root.path().display().to_string(), "cgroup2", "rw")]);
        let cgroups = Cgroups::detect_from("0::/\n", &info, 1);
        assert!(cgroups.describe().contains("memory controller not delegated"), "{}", cgroups.describe());
        assert!(!Cgroups::detect_from("", "", 1).is_available());
    }

    #[test]
    fn this_machine() {
        // Whatever the machine offers, detection answers without panicking and describes itself.
        let cgroups = Cgroups::detect();
        assert!(!cgroups.describe().is_empty());
    }
}

//! Resources per replica: memory and CPU limits, and usage readings, for processes started by the local
//! provider. Three backends, chosen once at run time by [`Cgroups::detect`]:
//!
//! - **cgroup v1** (separate `memory`, `cpu`, `cpuacct` hierarchies): each replica gets
//!   `<own>/sedge/<function>/<replica>` in every hierarchy, where `<own>` is sedge's own cgroup there.
//! - **cgroup v2** (unified): the same folder once, with the `memory` and `cpu` controllers enabled down to it.
//! - **fallback** (no writable cgroup, or `sedge up --cgroups off`): memory bounded by `RLIMIT_AS` (`ulimit -v`),
//!   which counts *virtual* memory and so is a coarse bound; no CPU limit; usage summed over the replica's
//!   process groups in `/proc`.
//!
//! Processes join their confinement without unsafe code: [`Confinement::command`] wraps an argv in
//! `/bin/sh -c 'echo $$ > …/cgroup.procs; exec "$@"'`, so the program is confined from its first instruction and
//! every child it forks inherits that. Callers that start processes some other way use
//! [`Confinement::procs_files`] or [`Confinement::address_space_limit`].
//!
//! # Layout
//! - [`detect`]: [`Cgroups`], finding the hierarchies and sedge's place in them.
//! - [`confine`]: [`Confinement`], one replica's folders, its command wrapper, usage, OOM kills and removal.
//! - [`meter`]: [`CpuMeter`], cumulative CPU seconds → millicores (pure).
//! - [`procfs`]: usage from `/proc` by process group, for the fallback.
//! - [`parse`]: pure parsers of the kernel's text files.

pub mod confine;
pub mod detect;
pub mod meter;
pub mod parse;
pub mod procfs;

pub use confine::Confinement;
pub use detect::Cgroups;
pub use meter::CpuMeter;

/// What a replica may use. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory in bytes (cgroups: resident memory plus page cache, swap excluded; fallback: address space).
    pub memory_bytes: Option<u64>,
    /// CPU in thousandths of a core (`500` = half a core), enforced over 100 ms periods; cgroups only.
    pub cpu_millicores: Option<u64>,
}

/// What a replica has used, read by [`Confinement::usage`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU time in seconds since the confinement was created (cumulative; feed it to a [`CpuMeter`]).
    pub cpu_seconds: f64,
    /// Memory now in use, in bytes: the working set under cgroups (usage minus inactive file cache, as
    /// cAdvisor and `kubectl top` report), the summed resident set size in the fallback.
    pub memory_bytes: u64,
}

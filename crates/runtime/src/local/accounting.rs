//! One replica's resources: its [`Confinement`] (cgroups or rlimit, from the function's `limits`), how its
//! processes join it, and its latest usage reading (CPU millicores, memory) and OOM kills, sampled by the
//! function's sampler.
//!
//! A process joins from its first instruction when the function has limits (started through
//! [`Confinement::command`], or by the fork server before the child runs). Without limits the cgroup is only
//! for accounting, and joining it stays off the call's path: moving a task into a cgroup v1 waits for an RCU
//! grace period (measured: ~10 ms after an idle spell, 0.1 ms back to back) and holds a lock that stalls every
//! fork on the machine meanwhile. So an http replica's server is moved in from the blocking pool after it
//! started, and fork-mode replicas without limits get no cgroup at all (their per-call processes are not
//! measured; set `limits` to measure and bound them).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sedge_core::Mode;

use super::resources::{Cgroups, Confinement, CpuMeter, Limits};

/// A replica's confinement and readings.
#[derive(Debug, Default)]
pub struct Accounting {
    confinement: Option<Confinement>,
    limits: Limits,
    /// The process group of the replica's server (http mode), for the `/proc` fallback.
    pgid: AtomicU32,
    reading: Mutex<Reading>,
}

#[derive(Debug, Default)]
struct Reading {
    meter: CpuMeter,
    cpu_millicores: f64,
    memory_bytes: u64,
    oom_kills: u64,
}

/// One sample of a replica.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// CPU over the last interval, in millicores.
    pub cpu_millicores: f64,
    /// Working-set memory in bytes.
    pub memory_bytes: u64,
    /// OOM kills since the previous sample.
    pub new_oom_kills: u64,
}

impl Accounting {
    /// Confines replica `replica` of `function` with `limits`; if the cgroups cannot be made, the replica runs
    /// unconfined and the reason is returned for the log. A fork-mode replica without limits gets none.
    pub fn new(cgroups: &Cgroups, function: &str, replica: &str, mode: Mode, limits: Limits) -> (Self, Option<String>) {
        if mode == Mode::Fork && limits == Limits::default() {
            return (Self::default(), None);
        }
        match cgroups.confine(function, replica, limits) {
            Ok(c) => (Self { confinement: Some(c), limits, ..Self::default() }, None),
            Err(e) => (Self { limits, ..Self::default() }, Some(format!("resources not confined: {e}"))),
        }
    }

    /// Whether this replica is measured at all (it has a cgroup, or an rlimit-only fallback confinement).
    pub fn measured(&self) -> bool {
        self.confinement.is_some()
    }

    fn limited(&self) -> bool {
        self.limits != Limits::default()
    }

    /// The argv to spawn: wrapped so the process starts confined when there are limits, as is otherwise.
    pub fn argv<'a>(&self, argv: &'a [String]) -> Cow<'a, [String]> {
        match &self.confinement {
            Some(c) if self.limited() => Cow::Owned(c.command(argv)),
            _ => Cow::Borrowed(argv),
        }
    }

    /// After an http replica's server was spawned: records its process group and, without limits, moves it
    /// into the accounting cgroups from the blocking pool (see the module's header for why not inline).
    pub fn server_started(&self, pid: Option<u32>) {
        let Some(pid) = pid else { return };
        self.pgid.store(pid, Ordering::Release);
        if let Some(c) = &self.confinement
            && !self.limited()
        {
            let files = c.procs_files();
            tokio::task::spawn_blocking(move || {
                for file in files {
                    // Best effort: the process may already have exited.
                    let _ = std::fs::write(file, pid.to_string());
                }
            });
        }
    }

    /// What the fork server applies to a child before it runs, when there are limits to enforce: cgroup.procs
    /// files and the fallback rlimit.
    pub fn for_fork_server(&self) -> (Vec<PathBuf>, Option<u64>) {
        match &self.confinement {
            Some(c) if self.limited() => (c.procs_files(), c.address_space_limit()),
            _ => (Vec::new(), None),
        }
    }

    /// Reads usage at `now`, updating the latest reading.
    pub fn sample(&self, now: Duration) -> Sample {
        let Some(c) = &self.confinement else { return Sample::default() };
        let pgid = self.pgid.load(Ordering::Acquire);
        let pgids: &[u32] = if pgid == 0 { &[] } else { std::slice::from_ref(&pgid) };
        let usage = c.usage(pgids);
        let kills = c.oom_kills();
        let mut r = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = r.meter.observe(now, usage.cpu_seconds) {
            r.cpu_millicores = m as f64;
        }
        r.memory_bytes = usage.memory_bytes;
        let new_oom_kills = kills.saturating_sub(r.oom_kills);
        r.oom_kills = kills;
        Sample { cpu_millicores: r.cpu_millicores, memory_bytes: r.memory_bytes, new_oom_kills }
    }

    /// OOM kills not yet seen by [`Accounting::sample`] or this call, marking them seen.
    pub fn take_oom_kills(&self) -> u64 {
        let Some(c) = &self.confinement else { return 0 };
        let kills = c.oom_kills();
        let mut r = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let new = kills.saturating_sub(r.oom_kills);
        r.oom_kills = kills;
        new
    }

    /// OOM kills in this replica seen so far by [`Accounting::sample`] or [`Accounting::take_oom_kills`]
    /// (the supervisor takes them when a server exits, the fork path when a call fails, the sampler every few
    /// seconds); no file is read here.
    pub fn oom_seen(&self) -> u64 {
        self.reading.lock().unwrap_or_else(|p| p.into_inner()).oom_kills
    }

    /// The latest reading.
    pub fn latest(&self) -> Sample {
        let r = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        Sample { cpu_millicores: r.cpu_millicores, memory_bytes: r.memory_bytes, new_oom_kills: 0 }
    }

    /// The memory limit, for messages.
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits.memory_bytes
    }

    /// Removes the cgroups once the replica's processes are gone (blocking briefly; call off the runtime).
    pub fn remove(&self) {
        if let Some(c) = &self.confinement {
            c.remove();
        }
    }
}

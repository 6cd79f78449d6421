//! One replica: its state, its in-flight count, and for http mode the supervised server process —
//! started with a fresh `PORT`, probed until ready, restarted with exponential backoff when it dies,
//! drained and stopped (SIGTERM to its process group, then SIGKILL) when scaled away.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, Ordering};
use std::time::Duration;

use sedge_core::{Mode, QualifiedName};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::command::Command;
use super::fork::kill_group;
use super::http::{HttpClient, probe};
use crate::logs::LogHub;
use crate::provider::ReplicaState;

/// How often a starting server is probed (Knative's queue-proxy probes every 50 ms; sedge is closer).
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// First restart delay; doubles per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest restart delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A replica that stayed up this long starts its backoff afresh.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long a stopped server gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// One replica of a function.
pub struct Replica {
    /// Instance name, as logs and `/system/logs?instance=` show it.
    pub id: String,
    state: AtomicU8,
    inflight: AtomicU32,
    port: AtomicU16,
    stop: CancellationToken,
    stopped: CancellationToken,
    /// Woken when a draining replica's last call ends.
    idle: Notify,
}

impl Replica {
    /// A replica in `Starting` (http) or `Ready` (fork: nothing to wait for).
    pub fn new(id: String, mode: Mode) -> Arc<Self> {
        let state = if mode == Mode::Fork { ReplicaState::Ready } else { ReplicaState::Starting };
        Arc::new(Self {
            id,
            state: AtomicU8::new(state as u8),
            inflight: AtomicU32::new(0),
            port: AtomicU16::new(0),
            stop: CancellationToken::new(),
            stopped: CancellationToken::new(),
            idle: Notify::new(),
        })
    }

    /// Current state.
    pub fn state(&self) -> ReplicaState {
        ReplicaState::ALL[usize::from(self.state.load(Ordering::Acquire))]
    }

    fn set_state(&self, state: ReplicaState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// The port of a ready http-mode replica.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Acquire)
    }

    /// Calls in flight.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Acquire)
    }

    /// Takes a slot if fewer than `limit` calls are in flight; the slot frees itself on drop.
    pub fn try_acquire(self: &Arc<Self>, limit: Option<u32>) -> Option<Slot> {
        let limit = limit.unwrap_or(u32::MAX);
        self.inflight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).ok()?;
        Some(Slot(self.clone()))
    }

    /// Stops taking calls, waits for in-flight ones (at most `grace`), then stops the process.
    pub async fn drain(&self, grace: Duration) {
        self.set_state(ReplicaState::Draining);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            if self.inflight() == 0 || tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        self.stop.cancel();
        self.stopped.cancelled().await;
    }
}

/// An in-flight call on a replica.
pub struct Slot(Arc<Replica>);

impl Slot {
    /// The replica this slot is on.
    pub fn replica(&self) -> &Replica {
        &self.0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let was = self.0.inflight.fetch_sub(1, Ordering::AcqRel);
        if was == 1 && self.0.state() == ReplicaState::Draining {
            self.0.idle.notify_waiters();
        }
    }
}

/// What a supervisor needs to run an http-mode replica.
pub struct Supervised {
    /// The replica.
    pub replica: Arc<Replica>,
    /// The function.
    pub function: QualifiedName,
    /// Its command.
    pub command: Arc<Command>,
    /// Shared client for probes.
    pub client: HttpClient,
    /// Log sink.
    pub logs: Arc<LogHub>,
    /// Woken whenever a replica of the function becomes ready.
    pub became_ready: Arc<Notify>,
}

/// For a fork-mode replica: waits for the stop signal and acknowledges it.
pub async fn idle_until_stopped(replica: Arc<Replica>) {
    replica.stop.cancelled().await;
    replica.stopped.cancel();
}

/// Runs an http-mode replica until it is stopped, restarting its server whenever it exits.
pub async fn supervise(s: Supervised) {
    let r = &s.replica;
    let mut backoff = FIRST_BACKOFF;
    loop {
        match run_once(&s).await {
            Outcome::Stopped => break,
            Outcome::Exited { ran_for } => {
                r.set_state(ReplicaState::Failed);
                if ran_for >= STABLE_AFTER {
                    backoff = FIRST_BACKOFF;
                }
                s.logs.write(&s.function, &r.id, &format!("restarting in {backoff:?}"));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = r.stop.cancelled() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                r.set_state(ReplicaState::Starting);
            }
        }
    }
    r.stopped.cancel();
}

enum Outcome {
    Stopped,
    Exited { ran_for: Duration },
}

async fn run_once(s: &Supervised) -> Outcome {
    let r = &s.replica;
    let started = tokio::time::Instant::now();
    let port = match free_port() {
        Ok(p) => p,
        Err(e) => {
            s.logs.write(&s.function, &r.id, &format!("no free port: {e}"));
            return Outcome::Exited { ran_for: Duration::ZERO };
        }
    };
    let cmd = &s.command;
    let mut child = match tokio::process::Command::new(&cmd.argv[0])
        .args(&cmd.argv[1..])
        .current_dir(&cmd.cwd)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .env("PORT", port.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            s.logs.write(&s.function, &r.id, &format!("could not start {}: {e}", cmd.argv[0]));
            return Outcome::Exited { ran_for: Duration::ZERO };
        }
    };
    let pgid = child.id();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pipe_to_log(out, s.function.clone(), r.id.clone(), s.logs.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pipe_to_log(err, s.function.clone(), r.id.clone(), s.logs.clone()));
    }

    // Ready only once the server answers: a replica is never offered traffic before it listens.
    loop {
        tokio::select! {
            status = child.wait() => {
                kill_group(pgid);
                s.logs.write(&s.function, &r.id, &format!("exited before ready: {}", describe(status)));
                return Outcome::Exited { ran_for: started.elapsed() };
            }
            _ = r.stop.cancelled() => {
                stop_child(&mut child, pgid).await;
                return Outcome::Stopped;
            }
            _ = tokio::time::sleep(PROBE_INTERVAL) => {
                if probe(&s.client, port, cmd.ready_path.as_deref()).await {
                    break;
                }
            }
        }
    }
    r.port.store(port, Ordering::Release);
    r.set_state(ReplicaState::Ready);
    s.became_ready.notify_waiters();
    s.logs.write(&s.function, &r.id, &format!("ready on port {port} after {:?}", started.elapsed()));

    tokio::select! {
        status = child.wait() => {
            kill_group(pgid);
            s.logs.write(&s.function, &r.id, &format!("exited: {}", describe(status)));
            Outcome::Exited { ran_for: started.elapsed() }
        }
        _ = r.stop.cancelled() => {
            stop_child(&mut child, pgid).await;
            Outcome::Stopped
        }
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    }
}

/// SIGTERM to the group, SIGKILL after [`TERM_GRACE`].
async fn stop_child(child: &mut tokio::process::Child, pgid: Option<u32>) {
    if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGTERM);
    }
    if tokio::time::timeout(TERM_GRACE, child.wait()).await.is_err() {
        let _ = child.start_kill();
    }
    kill_group(pgid);
    let _ = child.wait().await;
}

/// A port the kernel considers free now. Another process could take it before the server binds; the server
/// then exits and the supervisor retries with a new port.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn pipe_to_log(stream: impl AsyncRead + Unpin, function: QualifiedName, instance: String, logs: Arc<LogHub>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.write(&function, &instance, &line);
    }
}

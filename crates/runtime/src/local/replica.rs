//! One replica: its state, its in-flight count, and for http mode the supervised server process —
//! started with a fresh `PORT`, probed until ready, restarted with exponential backoff when it dies,
//! drained and stopped (SIGTERM to its process group, then SIGKILL) when scaled away.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU32, Ordering};
use std::time::Duration;

use sedge_core::{Mode, QualifiedName};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::accounting::Accounting;
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
    /// Set once the replica is being drained: it takes no calls and is not restarted if its server dies.
    draining: AtomicBool,
    /// Woken when a draining replica's last call ends.
    idle: Notify,
    /// Called each time the replica becomes ready (the router serves its line).
    on_ready: Box<dyn Fn() + Send + Sync>,
    /// Its cgroups (or rlimit) and resource readings.
    pub accounting: Accounting,
}

impl Replica {
    /// A replica in `Starting` (http) or `Ready` (fork: nothing to wait for); `on_ready` runs whenever it
    /// becomes ready later.
    pub fn new(id: String, mode: Mode, on_ready: Box<dyn Fn() + Send + Sync>, accounting: Accounting) -> Arc<Self> {
        let state = if mode == Mode::Fork { ReplicaState::Ready } else { ReplicaState::Starting };
        Arc::new(Self {
            id,
            state: AtomicU8::new(state as u8),
            inflight: AtomicU32::new(0),
            port: AtomicU16::new(0),
            stop: CancellationToken::new(),
            stopped: CancellationToken::new(),
            draining: AtomicBool::new(false),
            idle: Notify::new(),
            on_ready,
            accounting,
        })
    }

    /// Current state.
    pub fn state(&self) -> ReplicaState {
        ReplicaState::ALL[usize::from(self.state.load(Ordering::Acquire))]
    }

    fn set_state(&self, state: ReplicaState) {
        self.state.store(state as u8, Ordering::Release);
        if state == ReplicaState::Ready {
            (self.on_ready)();
        }
    }

    /// The port of a ready http-mode replica.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Acquire)
    }

    /// Calls in flight.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Acquire)
    }

    /// Counts a call in; the router decides under its lock whether the replica may take it.
    pub(super) fn begin(&self) {
        self.inflight.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a call out, waking a drain waiting for the last one.
    pub(super) fn end(&self) {
        let was = self.inflight.fetch_sub(1, Ordering::AcqRel);
        if was == 1 && self.draining.load(Ordering::Acquire) {
            self.idle.notify_waiters();
        }
    }

    /// Stops taking calls, waits for in-flight ones (at most `grace`), then stops the process.
    pub async fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::Release);
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

    /// Removes the replica's cgroups once it has stopped (on the blocking pool); returns its final OOM-kill count.
    pub async fn release_resources(self: &Arc<Self>) -> u64 {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            me.accounting.take_oom_kills();
            me.accounting.remove();
            me.accounting.oom_seen()
        })
        .await
        .unwrap_or(0)
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
            // A replica being drained that dies is done: its calls have failed, nothing is restarted.
            Outcome::Exited { .. } if r.draining.load(Ordering::Acquire) => break,
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
    let prebaked = match cmd.fork_server() {
        Some(server) => match start_prebaked(s, server, port).await {
            Ok(child) => Some(child),
            Err(e) => {
                let line = format!("fork server could not start the replica ({e}); starting it un-prebaked");
                s.logs.write(&s.function, &r.id, &line);
                None
            }
        },
        None => None,
    };
    let mut child = match prebaked {
        Some(child) => child,
        None => match start_plain(s, port) {
            Ok(child) => child,
            Err(e) => {
                s.logs.write(&s.function, &r.id, &format!("could not start {}: {e}", cmd.argv[0]));
                return Outcome::Exited { ran_for: Duration::ZERO };
            }
        },
    };

    // Ready only once the server answers: a replica is never offered traffic before it listens. The first
    // probes come quickly (1 ms, doubling up to the interval), as a prebaked server listens within milliseconds.
    let mut delay = FIRST_PROBE;
    loop {
        tokio::select! {
            status = child.wait() => {
                kill_group(child.pgid());
                s.logs.write(&s.function, &r.id, &format!("exited before ready: {}{}", describe(status), oom(r)));
                return Outcome::Exited { ran_for: started.elapsed() };
            }
            _ = r.stop.cancelled() => {
                child.stop().await;
                return Outcome::Stopped;
            }
            _ = tokio::time::sleep(delay) => {
                if probe(&s.client, port, cmd.ready_path.as_deref()).await {
                    break;
                }
                delay = (delay * 2).min(PROBE_INTERVAL);
            }
        }
    }
    r.port.store(port, Ordering::Release);
    r.set_state(ReplicaState::Ready);
    s.logs.write(&s.function, &r.id, &format!("ready on port {port} after {:?}", started.elapsed()));

    tokio::select! {
        status = child.wait() => {
            kill_group(child.pgid());
            s.logs.write(&s.function, &r.id, &format!("exited: {}{}", describe(status), oom(r)));
            Outcome::Exited { ran_for: started.elapsed() }
        }
        _ = r.stop.cancelled() => {
            child.stop().await;
            Outcome::Stopped
        }
    }
}

/// First readiness probe after a start; the delay doubles up to [`PROBE_INTERVAL`].
const FIRST_PROBE: Duration = Duration::from_millis(1);

/// A replica's server process: spawned by sedge, or forked by the function's fork server.
enum ServerProcess {
    Plain { child: tokio::process::Child, pgid: Option<u32> },
    Prebaked { pid: u32, exit: super::prebake::ExitFuture, done: bool },
}

impl ServerProcess {
    /// Its process group (it leads its own).
    fn pgid(&self) -> Option<u32> {
        match self {
            Self::Plain { pgid, .. } => *pgid,
            Self::Prebaked { pid, .. } => Some(*pid),
        }
    }

    /// Waits for it to exit. For a prebaked one, an error means the fork server went away: its replicas are
    /// then treated as exited (the caller kills the group and the supervisor restarts the replica).
    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Self::Plain { child, .. } => child.wait().await,
            Self::Prebaked { done: true, .. } => std::future::pending().await,
            Self::Prebaked { exit, done, .. } => {
                let status = exit.await;
                *done = true;
                status
            }
        }
    }

    /// SIGTERM to the group, SIGKILL after [`TERM_GRACE`].
    async fn stop(&mut self) {
        let pgid = self.pgid();
        if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGTERM);
        }
        let exited = tokio::time::timeout(TERM_GRACE, self.wait()).await.is_ok();
        kill_group(pgid);
        if !exited {
            // Bounded: the group was just SIGKILLed, and a prebaked wait ends when the server reports or goes.
            let _ = tokio::time::timeout(TERM_GRACE, self.wait()).await;
        }
    }
}

/// `" (OOM: …)"` when the replica's processes were OOM-killed since last reported.
fn oom(r: &Replica) -> String {
    match r.accounting.take_oom_kills() {
        0 => String::new(),
        n => {
            let limit = r.accounting.memory_limit().map_or_else(String::new, |b| format!(", limit {b} bytes"));
            format!(" (OOM: {n} process(es) killed for exceeding the memory limit{limit})")
        }
    }
}

fn start_plain(s: &Supervised, port: u16) -> std::io::Result<ServerProcess> {
    let cmd = &s.command;
    let argv = s.replica.accounting.argv(&cmd.argv);
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&cmd.cwd)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .env("PORT", port.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    s.replica.accounting.server_started(child.id());
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pipe_to_log(out, s.function.clone(), s.replica.id.clone(), s.logs.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pipe_to_log(err, s.function.clone(), s.replica.id.clone(), s.logs.clone()));
    }
    let pgid = child.id();
    Ok(ServerProcess::Plain { child, pgid })
}

/// Forks the replica's server from the function's fork server: `PORT` set, stdin `/dev/null`, output to the log.
async fn start_prebaked(
    s: &Supervised,
    server: &super::prebake::ForkServer,
    port: u16,
) -> std::io::Result<ServerProcess> {
    let (out_r, out_w) = std::io::pipe()?;
    let (err_r, err_w) = std::io::pipe()?;
    let (cgroup_procs, address_space_limit) = s.replica.accounting.for_fork_server();
    let launched = server
        .spawn(super::prebake::Spawn {
            stdin: std::fs::File::open("/dev/null")?.into(),
            stdout: out_w.into(),
            stderr: err_w.into(),
            env: vec![("PORT".into(), port.to_string()), ("PYTHONUNBUFFERED".into(), "1".into())],
            cgroup_procs,
            address_space_limit,
        })
        .await?;
    s.replica.accounting.server_started(Some(launched.pid));
    for reader in [out_r, err_r] {
        match tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()) {
            Ok(r) => {
                tokio::spawn(pipe_to_log(r, s.function.clone(), s.replica.id.clone(), s.logs.clone()));
            }
            Err(e) => s.logs.write(&s.function, &s.replica.id, &format!("output not captured: {e}")),
        }
    }
    Ok(ServerProcess::Prebaked { pid: launched.pid, exit: launched.exit, done: false })
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    }
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

//! Prebaked Python: one fork server per python3 / python3-http function that imports the bundle's `index`
//! module (and so the handler and its heavy imports) once, then forks a ready child per fork-mode call or per
//! http-mode replica start, instead of starting `python3 index.py` afresh.
//!
//! # How it runs
//! [`ForkServer::start`] writes the embedded `forkserver.py` (standard library only) to `<dir>/forkserver.py`
//! — the caller passes the function's run folder, `<state>/run/<namespace>/<name>/` — and starts it as
//! `<bundle python> <dir>/forkserver.py @<socket name>` in the bundle folder with the function's environment,
//! in its own process group. It listens on a Linux abstract Unix socket (`sedge-prebake-<sedge pid>-<n>`, so no
//! path length limit and nothing left on disk) and serves only peers with its own uid (`SO_PEERCRED`). Its
//! stdin is a pipe from sedge: when sedge dies the server sees end of file and exits. Its stdout and stderr go
//! to the function's log as instance `prebake`.
//!
//! # Protocol (one connection per child)
//! sedge sends a 4-byte big-endian length and a JSON header `{"env": {..}, "cgroup_procs": [..],
//! "rlimit_as": n|null}`, the first bytes carrying the child's stdin, stdout and stderr with `SCM_RIGHTS`. The
//! server forks; the child waits until the parent has put it in its own process group, written its pid into
//! each `cgroup.procs` file and set `RLIMIT_AS` (`prlimit`), so a failure there is reported as an error and no
//! code of the function runs outside its limits. The server answers `{"pid": n}` (or `{"error": ".."}`), then
//! `{"pid": n, "code": c}` or `{"pid": n, "signal": s}` when the child ends. Children are reaped on `SIGCHLD`,
//! so a lost connection leaves no zombie; a connection closed before the child ends SIGKILLs the child's group.
//! The child takes the fds as 0/1/2, adds the env to `os.environ`, re-seeds `random` and runs `index.main()`,
//! then `os._exit`s with its status (an uncaught exception prints the traceback and exits 1; `atexit` handlers
//! registered by imports do not run, as in multiprocessing's forked workers).
//!
//! # Failure and fallback
//! If the server cannot start, the function runs un-prebaked. If it dies later, [`ForkServer::spawn`] fails
//! (the caller starts the process the plain way for that call or replica) and the server is restarted in the
//! background after 1 s, doubling per consecutive death up to 5 min (reset once a server stayed up 60 s).
//! Children already running are not affected by the server's death, but their exit can no longer be reported:
//! their [`Launched::exit`] resolves to an error and callers kill the child's group.
//!
//! # Memory
//! The server is one resident Python process per function ([`ForkServer::memory_bytes`]). Measured with
//! CPython 3.11 (VmRSS; much of it is the interpreter's shared libraries and pages children share
//! copy-on-write): python3 template with the starter (empty) handler 15 MiB, python3-http template with its
//! starter handler 21 MiB (it imports `http.server`), against 13.5 MiB for a bare `python3 -c pass`. Heavy
//! imports add their cost once per function instead of once per call or replica start; numpy was not
//! installed where this was measured.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use sedge_core::QualifiedName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, ChildStdin};
use tokio::time::Instant;

use super::command::Command;
use crate::logs::LogHub;

/// The fork server's source, written to `<dir>/forkserver.py` at start.
const SCRIPT: &str = include_str!("forkserver.py");
/// File name of the script inside the folder given to [`ForkServer::start`].
pub const SCRIPT_FILE: &str = "forkserver.py";
/// Instance name of the server's own lines in the function's log.
pub const LOG_INSTANCE: &str = "prebake";
/// How long the server may take to import the handler and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to answer a spawn with the child's pid.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Delay before the first restart after a death; doubles per consecutive death up to [`MAX_RESTART_DELAY`].
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
/// Longest restart delay.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(300);
/// A server that stayed up this long restarts after [`FIRST_RESTART_DELAY`] again.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// The exit status of a launched child, as the fork server reports it; an error when the server went away.
pub type ExitFuture = Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send>>;

/// One child to start.
pub struct Spawn {
    /// Becomes the child's fd 0.
    pub stdin: OwnedFd,
    /// Becomes the child's fd 1.
    pub stdout: OwnedFd,
    /// Becomes the child's fd 2 (may be a clone of `stdout`).
    pub stderr: OwnedFd,
    /// Added to the server's environment (which is the function's): CGI variables, `PORT`.
    pub env: Vec<(String, String)>,
    /// `cgroup.procs` files the child's pid is written to before it runs anything.
    pub cgroup_procs: Vec<PathBuf>,
    /// `RLIMIT_AS` (soft and hard) in bytes.
    pub address_space_limit: Option<u64>,
}

/// A running child: it leads its own process group (`pgid == pid`).
pub struct Launched {
    /// The child's pid.
    pub pid: u32,
    /// Resolves when the child ends. Dropping it closes the connection, and the server SIGKILLs the child's group.
    pub exit: ExitFuture,
}

/// A fork server for one function. Killed (its whole process group) on [`ForkServer::stop`] and on drop.
pub struct ForkServer {
    state: Mutex<State>,
    stopped: AtomicBool,
}

/// What starting (and restarting) the server needs.
struct Launcher {
    python: String,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    script: PathBuf,
    logs: Arc<LogHub>,
    function: QualifiedName,
}

struct State {
    /// Abstract socket name, without the leading NUL.
    name: String,
    /// The running server's pid; `None` while it is dead.
    pid: Option<u32>,
}

/// The server's wire messages to sedge.
#[derive(Deserialize)]
struct Reply {
    pid: Option<u32>,
    code: Option<i32>,
    signal: Option<i32>,
    error: Option<String>,
}

/// The request header.
#[derive(Serialize)]
struct Header<'a> {
    env: BTreeMap<&'a str, &'a str>,
    cgroup_procs: Vec<String>,
    rlimit_as: Option<u64>,
}

impl ForkServer {
    /// Writes the script to `dir`, starts the server for `command` (its interpreter, bundle folder and
    /// environment) and waits until its socket answers. Its output goes to `logs` as `function`'s instance
    /// [`LOG_INSTANCE`].
    pub async fn start(
        command: &Command,
        dir: &Path,
        logs: Arc<LogHub>,
        function: QualifiedName,
    ) -> io::Result<Arc<Self>> {
        let python = command.argv.first().ok_or_else(|| io::Error::other("empty command"))?.clone();
        tokio::fs::create_dir_all(dir).await?;
        let script = std::path::absolute(dir.join(SCRIPT_FILE))?;
        tokio::fs::write(&script, SCRIPT).await?;
        let launcher =
            Arc::new(Launcher { python, cwd: command.cwd.clone(), env: command.env.clone(), script, logs, function });
        let (name, child, stdin) = launcher.launch().await?;
        let server =
            Arc::new(Self { state: Mutex::new(State { name, pid: child.id() }), stopped: AtomicBool::new(false) });
        tokio::spawn(watch(Arc::downgrade(&server), launcher, child, stdin));
        Ok(server)
    }

    /// The server's pid, `None` while it is dead (between a death and its restart).
    pub fn pid(&self) -> Option<u32> {
        self.state().pid
    }

    /// Resident memory of the server process in bytes (`VmRSS` of `/proc/<pid>/status`); 0 when it is not
    /// running.
    pub fn memory_bytes(&self) -> u64 {
        let Some(pid) = self.pid() else { return 0 };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// Kills the server's process group and keeps it from restarting. Children already started keep running.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(pid) = self.state().pid {
            kill_group(pid);
        }
    }

    /// Forks a child with `req`'s fds and environment. Fails when the server is not running or does not
    /// answer; the caller then starts the process the plain way.
    pub async fn spawn(&self, req: Spawn) -> io::Result<Launched> {
        let name = {
            let state = self.state();
            if self.stopped.load(Ordering::Acquire) || state.pid.is_none() {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "fork server is not running"));
            }
            state.name.clone()
        };
        let stream = UnixStream::connect(format!("\0{name}")).await?;
        let header = Header {
            env: req.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            cgroup_procs: req.cgroup_procs.iter().map(|p| p.to_string_lossy().into_owned()).collect(),
            rlimit_as: req.address_space_limit,
        };
        let json = serde_json::to_vec(&header).map_err(io::Error::other)?;
        let length = u32::try_from(json.len()).map_err(io::Error::other)?;
        let mut frame = Vec::with_capacity(4 + json.len());
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&json);
        let fds = [req.stdin.as_raw_fd(), req.stdout.as_raw_fd(), req.stderr.as_raw_fd()];
        let sent = stream
            .async_io(tokio::io::Interest::WRITABLE, || {
                let cmsg = [ControlMessage::ScmRights(&fds)];
                sendmsg::<()>(stream.as_raw_fd(), &[IoSlice::new(&frame)], &cmsg, MsgFlags::MSG_NOSIGNAL, None)
                    .map_err(io::Error::from)
            })
            .await?;
        drop(req); // our copies of the child's ends: the child holds them now
        let mut stream = BufReader::new(stream);
        if sent < frame.len() {
            stream.get_mut().write_all(&frame[sent..]).await?;
        }
        let first = tokio::time::timeout(SPAWN_TIMEOUT, read_reply(&mut stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "fork server did not answer"))??;
        if let Some(error) = first.error {
            return Err(io::Error::other(format!("fork server: {error}")));
        }
        let pid = first.pid.ok_or_else(|| io::Error::other("fork server answered without a pid"))?;
        let exit = Box::pin(async move {
            let reply = read_reply(&mut stream).await?;
            match (reply.code, reply.signal) {
                (Some(code), _) => Ok(ExitStatus::from_raw((code & 0xff) << 8)),
                (None, Some(signal)) => Ok(ExitStatus::from_raw(signal & 0x7f)),
                (None, None) => Err(io::Error::other("fork server sent no exit status")),
            }
        });
        Ok(Launched { pid, exit })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for ForkServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("ForkServer").field("pid", &state.pid).field("socket", &state.name).finish()
    }
}

impl Launcher {
    fn log(&self, line: &str) {
        self.logs.write(&self.function, LOG_INSTANCE, line);
    }

    /// Starts a server and waits until its socket answers: its socket name, the child, and the pipe whose end
    /// of file tells it sedge is gone.
    async fn launch(&self) -> io::Result<(String, Child, ChildStdin)> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("sedge-prebake-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut child = tokio::process::Command::new(&self.python)
            .arg(&self.script)
            .arg(format!("@{name}"))
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let pid = child.id().ok_or_else(|| io::Error::other("fork server exited at once"))?;
        let stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin pipe"))?;
        for out in [child.stdout.take().map(boxed), child.stderr.take().map(boxed)].into_iter().flatten() {
            tokio::spawn(pipe_to_log(out, self.logs.clone(), self.function.clone()));
        }
        let ready = async {
            let mut delay = Duration::from_millis(1);
            loop {
                tokio::select! {
                    status = child.wait() => {
                        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                        return Err(io::Error::other(format!("fork server exited while starting: {status}")));
                    }
                    _ = tokio::time::sleep(delay) => {
                        if UnixStream::connect(format!("\0{name}")).await.is_ok() {
                            return Ok(());
                        }
                        delay = (delay * 2).min(Duration::from_millis(50));
                    }
                }
            }
        };
        let result = tokio::time::timeout(START_TIMEOUT, ready).await.unwrap_or_else(|_| {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("fork server not listening after {START_TIMEOUT:?}")))
        });
        if let Err(e) = result {
            kill_group(pid);
            let _ = child.wait().await;
            return Err(e);
        }
        self.log(&format!("fork server pid {pid} ready: {} imported once", self.cwd.join("index.py").display()));
        Ok((name, child, stdin))
    }
}

/// Waits for the server to die; restarts it with backoff unless it was stopped or dropped.
async fn watch(server: Weak<ForkServer>, launcher: Arc<Launcher>, mut child: Child, mut stdin: ChildStdin) {
    let mut delay = FIRST_RESTART_DELAY;
    loop {
        let started = Instant::now();
        let status = child.wait().await;
        drop(stdin);
        let Some(alive) = server.upgrade() else { return };
        alive.state().pid = None;
        if alive.stopped.load(Ordering::Acquire) {
            return;
        }
        drop(alive);
        if started.elapsed() >= STABLE_AFTER {
            delay = FIRST_RESTART_DELAY;
        }
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        launcher.log(&format!("fork server exited ({status}); calls start un-prebaked; restarting in {delay:?}"));
        loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RESTART_DELAY);
            if server.upgrade().is_none_or(|s| s.stopped.load(Ordering::Acquire)) {
                return;
            }
            match launcher.launch().await {
                Ok((name, new_child, new_stdin)) => {
                    let pid = new_child.id();
                    match server.upgrade() {
                        Some(s) if !s.stopped.load(Ordering::Acquire) => *s.state() = State { name, pid },
                        _ => {
                            if let Some(pid) = pid {
                                kill_group(pid);
                            }
                            return;
                        }
                    }
                    child = new_child;
                    stdin = new_stdin;
                    break;
                }
                Err(e) => launcher.log(&format!("fork server restart failed: {e}; next try in {delay:?}")),
            }
        }
    }
}

async fn read_reply(stream: &mut BufReader<UnixStream>) -> io::Result<Reply> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "fork server closed the connection"));
    }
    serde_json::from_str(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn boxed(r: impl AsyncRead + Send + Unpin + 'static) -> Box<dyn AsyncRead + Send + Unpin> {
    Box::new(r)
}

async fn pipe_to_log(stream: Box<dyn AsyncRead + Send + Unpin>, logs: Arc<LogHub>, function: QualifiedName) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.write(&function, LOG_INSTANCE, &line);
    }
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

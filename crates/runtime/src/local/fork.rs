//! Fork mode, the classic watchdog's semantics: one process per call, the body on stdin, stdout (and with
//! `combine_output`, stderr) is the response, a non-zero exit is a 500 with the output.
//!
//! Each process leads its own process group, and the whole group is killed when the call ends, so a
//! grandchild holding the pipe cannot stretch an exec timeout (the classic watchdog kills only the child).
//!
//! A prebaked function (see [`super::prebake`]) gets its process from its fork server: sedge makes the pipes
//! and sends their ends; everything after the start (stdin, output, deadlines, status) is the same. When the
//! server cannot start the process, the call starts it the plain way.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use sedge_core::Mode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::accounting::Accounting;
use super::command::Command;
use super::prebake::{ExitFuture, ForkServer, Spawn};
use crate::invoke::{Call, InvokeError, ResponseBody, full_body};

/// What a fork-mode run needs beyond the call.
pub struct ForkSettings<'a> {
    /// `name.namespace`, for errors.
    pub function: &'a str,
    /// The resolved command.
    pub command: &'a Command,
    /// stderr joins stdout in the response.
    pub combine_output: bool,
    /// Forced response Content-Type.
    pub content_type: Option<&'a HeaderValue>,
    /// The replica's cgroups (or rlimit), which the process joins.
    pub accounting: &'a Accounting,
}

/// The result of one run: the HTTP answer, and stderr to log when it was not part of the response.
pub struct ForkOutcome {
    /// The response or the reason there is none.
    pub result: Result<Response<ResponseBody>, InvokeError>,
    /// stderr, when kept apart from the response.
    pub stderr: Bytes,
}

/// Runs one call in a fresh process.
pub async fn run(settings: &ForkSettings<'_>, call: Call) -> ForkOutcome {
    let spawn_error = |e: std::io::Error| ForkOutcome {
        result: Err(InvokeError::Spawn { function: settings.function.to_string(), reason: e.to_string() }),
        stderr: Bytes::new(),
    };
    let prebaked = match settings.command.fork_server() {
        // A server that cannot start the process (it died, or is restarting) leaves this call to the plain path.
        Some(server) => start_prebaked(server, &call, settings).await.ok(),
        None => None,
    };
    let started = match prebaked {
        Some(started) => started,
        None => match start_plain(settings, &call) {
            Ok(started) => started,
            Err(e) => return spawn_error(e),
        },
    };
    let Started { pgid, stdin, out: out_reader, err: err_reader, mut child } = started;
    let stdout = read_all(out_reader);
    let stderr = err_reader.map(read_all);
    let body = call.body.clone();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A process that exits without reading its input is not an error (EPIPE is expected).
            let _ = stdin.write_all(&body).await;
        }
    };

    let (deadline, is_exec) = call.deadlines.first();
    let waited = tokio::time::timeout_at(deadline, async { tokio::join!(feed, child.wait()).1 }).await;
    // The call is over either way: nothing of this process group may outlive it.
    kill_group(pgid);
    let status = match waited {
        Err(_elapsed) => {
            let _ = child.wait().await;
            stdout.abort();
            if let Some(e) = stderr {
                e.abort()
            }
            let result = if is_exec {
                Err(InvokeError::ExecTimeout { mode: Mode::Fork })
            } else {
                Err(InvokeError::NoResponse {
                    function: settings.function.to_string(),
                    after: call.deadlines.respond_after,
                })
            };
            return ForkOutcome { result, stderr: Bytes::new() };
        }
        Ok(Err(e)) => return spawn_error(e),
        Ok(Ok(status)) => status,
    };
    let output = collect(stdout, deadline).await;
    let stderr = match stderr {
        Some(handle) => collect(handle, deadline).await,
        None => Bytes::new(),
    };
    if !status.success() {
        return ForkOutcome { result: Err(InvokeError::ProcessFailed { status: go_status(status), output }), stderr };
    }
    let content_type = settings.content_type.cloned().or_else(|| call.headers.get(header::CONTENT_TYPE).cloned());
    let mut response = Response::new(full_body(output));
    *response.status_mut() = StatusCode::OK;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    ForkOutcome { result: Ok(response), stderr }
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// A started process: its group, its stdin, its output, and its exit status to come.
struct Started {
    pgid: Option<u32>,
    stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    out: Reader,
    /// stderr, when not combined with stdout.
    err: Option<Reader>,
    child: Waiter,
}

/// How a started process's exit is awaited.
enum Waiter {
    /// Spawned by sedge.
    Plain(tokio::process::Child),
    /// Forked by the function's fork server, which reports the status.
    Prebaked(ExitFuture),
}

impl Waiter {
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Self::Plain(child) => child.wait().await,
            Self::Prebaked(exit) => exit.await,
        }
    }
}

/// Spawns the command with the call's CGI variables, in its own process group.
fn start_plain(settings: &ForkSettings<'_>, call: &Call) -> io::Result<Started> {
    let (cmd, combine_output) = (settings.command, settings.combine_output);
    let argv = settings.accounting.argv(&cmd.argv);
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(&cmd.cwd)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .envs(cgi_env(call))
        .stdin(Stdio::piped())
        .process_group(0);
    if combine_output {
        // One pipe for both streams keeps their interleaving, as Go's CombinedOutput does.
        let (reader, writer) = std::io::pipe()?;
        let writer2 = writer.try_clone()?;
        command.stdout(Stdio::from(writer)).stderr(Stdio::from(writer2));
        let mut child = command.spawn()?;
        drop(command); // closes our copies of the pipe's write end
        let out = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
        let stdin = child.stdin.take().map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>);
        Ok(Started { pgid: child.id(), stdin, out: Box::new(out), err: None, child: Waiter::Plain(child) })
    } else {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn()?;
        drop(command);
        let out: Reader = Box::new(child.stdout.take().expect("stdout is piped"));
        let err: Reader = Box::new(child.stderr.take().expect("stderr is piped"));
        let stdin = child.stdin.take().map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>);
        Ok(Started { pgid: child.id(), stdin, out, err: Some(err), child: Waiter::Plain(child) })
    }
}

/// Has the fork server fork the process, with pipes made here and the call's CGI variables.
async fn start_prebaked(server: &ForkServer, call: &Call, settings: &ForkSettings<'_>) -> io::Result<Started> {
    let combine_output = settings.combine_output;
    let (cgroup_procs, address_space_limit) = settings.accounting.for_fork_server();
    let (stdin_r, stdin_w) = std::io::pipe()?;
    let (out_r, out_w) = std::io::pipe()?;
    let (err_r, err_w) = if combine_output {
        (None, out_w.try_clone()?)
    } else {
        let (r, w) = std::io::pipe()?;
        (Some(r), w)
    };
    let launched = server
        .spawn(Spawn {
            stdin: stdin_r.into(),
            stdout: out_w.into(),
            stderr: err_w.into(),
            env: cgi_env(call),
            cgroup_procs,
            address_space_limit,
        })
        .await?;
    let stdin = tokio::net::unix::pipe::Sender::from_owned_fd(stdin_w.into())?;
    let out = tokio::net::unix::pipe::Receiver::from_owned_fd(out_r.into())?;
    let err = match err_r {
        Some(r) => Some(Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(r.into())?) as Reader),
        None => None,
    };
    Ok(Started {
        pgid: Some(launched.pid),
        stdin: Some(Box::new(stdin)),
        out: Box::new(out),
        err,
        child: Waiter::Prebaked(launched.exit),
    })
}

/// CGI-style variables, as both watchdogs set them: `Http_<Header_Name>`, `Http_Method`, `Http_Query`,
/// `Http_Path`.
fn cgi_env(call: &Call) -> Vec<(String, String)> {
    let mut env = Vec::with_capacity(call.headers.len() + 3);
    for (name, value) in &call.headers {
        if name == header::CONTENT_LENGTH {
            continue; // Go keeps Content-Length out of the header map
        }
        if let Ok(value) = value.to_str() {
            env.push((format!("Http_{}", canonical_env_name(name.as_str())), value.to_string()));
        }
    }
    env.push(("Http_Method".into(), call.method.to_string()));
    if let Some(q) = call.query.as_deref().filter(|q| !q.is_empty()) {
        env.push(("Http_Query".into(), q.to_string()));
    }
    env.push(("Http_Path".into(), call.path.clone()));
    env
}

/// `content-type` → `Content_Type`: Go's canonical header form with `-` as `_`.
fn canonical_env_name(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut upper = true;
    for c in header.chars() {
        if c == '-' {
            out.push('_');
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// An exit status as Go's `exec.ExitError` prints it.
fn go_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let name = match status.signal() {
        Some(libc::SIGKILL) => "killed".to_string(),
        Some(libc::SIGTERM) => "terminated".to_string(),
        Some(libc::SIGSEGV) => "segmentation fault".to_string(),
        Some(libc::SIGABRT) => "aborted".to_string(),
        Some(libc::SIGINT) => "interrupt".to_string(),
        Some(other) => format!("signal {other}"),
        None => "unknown".to_string(),
    };
    format!("signal: {name}")
}

/// Sends SIGKILL to a process group; a group that is already gone is fine.
pub(crate) fn kill_group(pgid: Option<u32>) {
    if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
    }
}

fn read_all(mut reader: Reader) -> JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = reader.read_to_end(&mut buf).await;
        buf
    })
}

/// Output of a reader task, bounded by the call's deadline (a writer outside the process group could keep the
/// pipe open forever).
async fn collect(handle: JoinHandle<Vec<u8>>, deadline: tokio::time::Instant) -> Bytes {
    let abort = handle.abort_handle();
    match tokio::time::timeout_at(deadline, handle).await {
        Ok(Ok(buf)) => Bytes::from(buf),
        _ => {
            abort.abort();
            Bytes::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_go() {
        assert_eq!(canonical_env_name("content-type"), "Content_Type");
        assert_eq!(canonical_env_name("x-call-id"), "X_Call_Id");
    }

    #[test]
    fn statuses_read_like_go() {
        assert_eq!(go_status(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(go_status(ExitStatus::from_raw(libc::SIGKILL)), "signal: killed");
    }
}

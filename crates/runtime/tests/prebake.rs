//! Prebaked Python through the local provider, with `python3` from `PATH`: a fork server imports the handler
//! once and forks a child per fork-mode call or http-mode replica; opting out runs the plain path; a killed
//! server falls back to the plain path and comes back.
//!
//! Handlers report `os.getpid()`, `os.getppid()` and an import-time stamp, so "imported once" is observable:
//! the stamp is the same across calls while the pids differ, and the parent is the fork server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use sedge_core::api::FunctionDeployment;
use sedge_core::{FunctionSpec, QualifiedName};
use sedge_runtime::local::LocalProvider;
use sedge_runtime::local::command::{self, PREBAKE_ENV};
use sedge_runtime::local::prebake::{ForkServer, Spawn};
use sedge_runtime::logs::LogHub;
use sedge_runtime::{Call, Deadlines, InvokeError, Provider, build::build_bundle, templates};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A python3 handler: JSON with its pid, parent, import stamp and CGI variables; `fail` exits 3 after writing
/// to stderr; `mixed` writes to both streams.
const FORK_HANDLER: &str = r#"
import json, os, sys, time
IMPORTED = time.time_ns()

def handle(req):
    if req.startswith("fail"):
        sys.stderr.write("going down\n")
        sys.exit(3)
    if req.startswith("mixed"):
        sys.stderr.write("to stderr\n")
        sys.stderr.flush()
        return "to stdout"
    if req.startswith("sleep"):
        time.sleep(60)
    return json.dumps({
        "pid": os.getpid(), "ppid": os.getppid(), "imported": IMPORTED, "body": req,
        "method": os.environ.get("Http_Method"), "path": os.environ.get("Http_Path"),
        "query": os.environ.get("Http_Query"), "type": os.environ.get("Http_Content_Type"),
    })
"#;

/// A python3-http handler reporting the same facts.
const HTTP_HANDLER: &str = r#"
import os, time
IMPORTED = time.time_ns()

def handle(event, context):
    return {"statusCode": 200, "body": {"pid": os.getpid(), "ppid": os.getppid(), "imported": IMPORTED,
                                        "port": os.environ.get("PORT")}}
"#;

fn build(state: &Path, image: &str, lang: &str, handler_code: &str) {
    let dir = tempfile::tempdir().unwrap();
    for (rel, content) in templates::find(lang).unwrap().handler_files {
        std::fs::write(dir.path().join(rel), content).unwrap();
    }
    std::fs::write(dir.path().join("handler.py"), handler_code).unwrap();
    build_bundle(state, image, lang, dir.path(), &mut |line| eprintln!("[build] {line}")).unwrap();
}

fn spec(name: &str, image: &str, env: &[(&str, &str)]) -> FunctionSpec {
    FunctionSpec::try_from(FunctionDeployment {
        service: name.into(),
        image: image.into(),
        env_vars: Some(env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
        ..Default::default()
    })
    .unwrap()
}

fn call(method: Method, path: &str, body: &str) -> Call {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    let respond_after = Duration::from_secs(20);
    Call {
        method,
        path: path.into(),
        query: Some("q=1".into()),
        headers,
        body: Bytes::from(body.to_string()),
        call_id: "test".into(),
        deadlines: Deadlines { exec: None, respond: tokio::time::Instant::now() + respond_after, respond_after },
    }
}

/// Status and body of a call; a failed process becomes (500, "<status>\n<output>") as the gateway shows it.
async fn invoke(p: &LocalProvider, name: &QualifiedName, call: Call) -> (u16, String) {
    let target = p.target(name).expect("function deployed");
    match target.invoke(call).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
        Err(InvokeError::ProcessFailed { status, output }) => {
            (500, format!("{status}\n{}", String::from_utf8_lossy(&output)))
        }
        Err(e) => panic!("call failed: {e}"),
    }
}

async fn invoke_json(p: &LocalProvider, name: &QualifiedName, body: &str) -> Value {
    let (status, text) = invoke(p, name, call(Method::POST, "/some/path", body)).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

/// Live fork server processes whose script lies under `state` (found through `/proc`, as the provider does not
/// expose its functions' commands).
fn fork_servers(state: &Path) -> Vec<u32> {
    let script_prefix = state.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let is_server = cmdline
            .split(|b| *b == 0)
            .map(String::from_utf8_lossy)
            .any(|arg| arg.starts_with(&script_prefix) && arg.ends_with("forkserver.py"));
        if is_server && !is_zombie(pid) {
            found.push(pid);
        }
    }
    found
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

fn one_server(state: &Path) -> u32 {
    let servers = fork_servers(state);
    assert_eq!(servers.len(), 1, "one fork server per prebaked function: {servers:?}");
    servers[0]
}

/// Polls `check` every 50 ms for at most `limit`: a bounded wait for something another process does.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

fn name(n: &str) -> QualifiedName {
    QualifiedName::new(n, None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python3_fork_mode_imports_once_and_forks_per_call() {
    let state = tempfile::tempdir().unwrap();
    build(state.path(), "forky", "python3", FORK_HANDLER);
    let p = LocalProvider::new(state.path().to_path_buf());
    let f = name("forky");
    p.apply(spec("forky", "forky", &[("combine_output", "false")]), 1, vec![]).await.unwrap();
    let server = one_server(state.path());

    let first = invoke_json(&p, &f, "hello").await;
    let second = invoke_json(&p, &f, "again").await;
    assert_eq!(first["body"], "hello");
    assert_eq!(second["body"], "again");
    assert_eq!(first["imported"], second["imported"], "the handler was imported once, by the fork server");
    assert_ne!(first["pid"], second["pid"], "each call runs in its own process");
    assert_eq!(first["ppid"], server, "children are forked by the fork server");
    assert_eq!(
        (&first["method"], &first["path"], &first["query"], &first["type"]),
        (&Value::from("POST"), &Value::from("/some/path"), &Value::from("q=1"), &Value::from("text/plain")),
        "CGI variables reach the child"
    );

    let (status, text) = invoke(&p, &f, call(Method::POST, "/", "fail")).await;
    assert_eq!((status, text.as_str()), (500, "exit status 3\n"), "stderr stays out of the answer");
    let (status, text) = invoke(&p, &f, call(Method::POST, "/", "mixed")).await;
    assert_eq!((status, text.as_str()), (200, "to stdout\n"));

    // Default combine_output: stderr joins the answer, through one pipe.
    p.apply(spec("combined", "forky", &[]), 1, vec![]).await.unwrap();
    let (status, text) = invoke(&p, &name("combined"), call(Method::POST, "/", "mixed")).await;
    assert_eq!((status, text.as_str()), (200, "to stderr\nto stdout\n"));
    let (status, text) = invoke(&p, &name("combined"), call(Method::POST, "/", "fail")).await;
    assert_eq!((status, text.as_str()), (500, "exit status 3\ngoing down\n"));

    p.remove(&f).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || !fork_servers(state.path()).contains(&server)).await);
    p.shutdown().await;
    assert!(eventually(Duration::from_secs(5), || fork_servers(state.path()).is_empty()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python3_http_replicas_are_forked_and_scale_to_zero_and_back() {
    let state = tempfile::tempdir().unwrap();
    build(state.path(), "webby", "python3-http", HTTP_HANDLER);
    let p = LocalProvider::new(state.path().to_path_buf());
    let f = name("webby");
    p.apply(spec("webby", "webby", &[]), 1, vec![]).await.unwrap();
    let server = one_server(state.path());

    let first = invoke_json(&p, &f, "").await;
    assert_eq!(first["ppid"], server, "the replica's server was forked by the fork server");
    let again = invoke_json(&p, &f, "").await;
    assert_eq!(first["pid"], again["pid"], "one long-running replica");
    let replica = first["pid"].as_u64().unwrap() as u32;

    p.scale(&f, 0).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || !Path::new(&format!("/proc/{replica}")).exists()).await,
        "a drained replica is stopped and reaped"
    );
    p.scale(&f, 1).await.unwrap();
    let back = invoke_json(&p, &f, "").await;
    assert_ne!(back["pid"], first["pid"], "a new replica");
    assert_eq!(back["ppid"], server, "forked by the same fork server");
    assert_eq!(back["imported"], first["imported"], "the handler was not imported again");
    assert_ne!(back["port"], Value::Null);
    for line in p.logs().history(&f, None, None) {
        eprintln!("[log {}] {}", line.instance, line.text); // start-up times, for reading (no assertion)
    }
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opting_out_runs_the_plain_path() {
    let state = tempfile::tempdir().unwrap();
    build(state.path(), "plain", "python3", FORK_HANDLER);
    let p = LocalProvider::new(state.path().to_path_buf());
    let f = name("plain");
    p.apply(spec("plain", "plain", &[("combine_output", "false"), (PREBAKE_ENV, "false")]), 1, vec![]).await.unwrap();
    assert!(fork_servers(state.path()).is_empty(), "no fork server for an opted-out function");
    let first = invoke_json(&p, &f, "one").await;
    let second = invoke_json(&p, &f, "two").await;
    assert_ne!(first["imported"], second["imported"], "each call imports the handler afresh");
    assert_eq!(first["method"], "POST");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_fork_server_falls_back_then_comes_back() {
    let state = tempfile::tempdir().unwrap();
    build(state.path(), "phoenix", "python3", FORK_HANDLER);
    let p = LocalProvider::new(state.path().to_path_buf());
    let f = name("phoenix");
    p.apply(spec("phoenix", "phoenix", &[("combine_output", "false")]), 1, vec![]).await.unwrap();
    let server = one_server(state.path());
    assert_eq!(invoke_json(&p, &f, "before").await["ppid"], server);

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(eventually(Duration::from_secs(5), || !fork_servers(state.path()).contains(&server)).await);
    for body in ["fallback 1", "fallback 2"] {
        let answer = invoke_json(&p, &f, body).await;
        assert_eq!(answer["body"], body, "calls still succeed while the server is down");
    }

    // Restarted in the background (after 1 s): calls go through the new server again.
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    let one = loop {
        let answer = invoke_json(&p, &f, "after").await;
        if answer["ppid"] != std::process::id() || tokio::time::Instant::now() > end {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let new_server = one_server(state.path());
    assert_ne!(new_server, server);
    assert_eq!(one["ppid"], new_server, "the fork server is restarted and used again");
    let two = invoke_json(&p, &f, "after").await;
    assert_eq!(two["ppid"], new_server);
    assert_eq!(one["imported"], two["imported"]);
    p.shutdown().await;
}

/// Ends of a pipe as sedge holds them: the write end for the child, the read end here (async).
fn pipe() -> (tokio::net::unix::pipe::Receiver, std::io::PipeWriter) {
    let (r, w) = std::io::pipe().unwrap();
    (tokio::net::unix::pipe::Receiver::from_owned_fd(r.into()).unwrap(), w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_server_api_reports_pid_status_and_memory() {
    let state = tempfile::tempdir().unwrap();
    build(state.path(), "direct", "python3", FORK_HANDLER);
    let spec = spec("direct", "direct", &[]);
    let command = command::resolve(&spec, state.path(), &[]).unwrap();
    let run: PathBuf = command::run_dir(state.path(), &spec);
    let logs = Arc::new(LogHub::new(state.path().join("logs")));
    let server = ForkServer::start(&command, &run, logs.clone(), spec.name.clone()).await.unwrap();
    let server_pid = server.pid().expect("running");
    assert!(run.join("forkserver.py").is_file(), "the script is written to the run folder");
    let rss = server.memory_bytes();
    eprintln!("fork server RSS with the python3 template and this handler: {} KiB", rss / 1024);
    assert!(rss > 1 << 20, "{rss}");

    let run_child = |body: &'static str| {
        let server = server.clone();
        async move {
            let (stdin_r, stdin_w) = std::io::pipe().unwrap();
            let (mut out, out_w) = pipe();
            let err_w = out_w.try_clone().unwrap();
            let spawn = Spawn {
                stdin: stdin_r.into(),
                stdout: out_w.into(),
                stderr: err_w.into(),
                env: vec![("Http_Method".into(), "PUT".into())],
                cgroup_procs: vec![],
                address_space_limit: Some(4 << 30),
            };
            let launched = server.spawn(spawn).await.unwrap();
            let mut stdin = tokio::net::unix::pipe::Sender::from_owned_fd(stdin_w.into()).unwrap();
            stdin.write_all(body.as_bytes()).await.unwrap();
            drop(stdin);
            (launched, async move {
                let mut text = String::new();
                out.read_to_string(&mut text).await.unwrap();
                text
            })
        }
    };

    let (launched, output) = run_child("direct").await;
    let status = launched.exit.await.unwrap();
    assert!(status.success(), "{status}");
    let answer: Value = serde_json::from_str(&output.await).unwrap();
    assert_eq!((answer["pid"].as_u64(), answer["ppid"].as_u64()), (Some(launched.pid.into()), Some(server_pid.into())));
    assert_eq!(answer["method"], "PUT");

    let (launched, output) = run_child("fail").await;
    assert_eq!(launched.exit.await.unwrap().code(), Some(3));
    assert_eq!(output.await, "going down\n");

    // Dropping the exit future hangs up: the server kills the child's group and reaps it.
    let (launched, _output) = run_child("sleep").await;
    let pid = launched.pid;
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(launched);
    assert!(
        eventually(Duration::from_secs(5), || !Path::new(&format!("/proc/{pid}")).exists()).await,
        "an abandoned child is killed and reaped, not left a zombie"
    );

    server.stop();
    assert!(eventually(Duration::from_secs(5), || !Path::new(&format!("/proc/{server_pid}")).exists()).await);
    let (r, w) = std::io::pipe().unwrap();
    let refused = server
        .spawn(Spawn {
            stdin: r.into(),
            stdout: w.try_clone().unwrap().into(),
            stderr: w.into(),
            env: vec![],
            cgroup_procs: vec![],
            address_space_limit: None,
        })
        .await;
    assert!(refused.is_err(), "a stopped server forks nothing; callers use the plain path");
}

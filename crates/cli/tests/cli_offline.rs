//! The client subcommands of the real `sedge` binary, without a real gateway.
//!
//! `new` and `build` work on a temp folder; `deploy`, `invoke`, `secret`, `logs` and `remove` talk to a
//! scripted HTTP server on port 0 that records each request, so the tests check the exact calls faas-cli makes
//! (REFERENCE §8) and how the CLI reports the answers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

/// `sedge ARGS` in `dir` with `stdin`, isolated from the caller's SEDGE_* / OPENFAAS_URL settings.
fn sedge(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(SEDGE)
        .args(args)
        .current_dir(dir)
        .env_remove("SEDGE_GATEWAY")
        .env_remove("OPENFAAS_URL")
        .env_remove("SEDGE_STATE")
        .env("SEDGE_PASSWORD", "pw")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sedge binary starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One request the mock gateway received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

type Script = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// A scripted HTTP/1.1 server: answers each request with `script` and records it.
struct Mock {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn start(script: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, script): (_, Arc<Script>) = (seen.clone(), Arc::new(script));
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let (log, script) = (log.clone(), script.clone());
                std::thread::spawn(move || serve(conn, &log, &*script));
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Seen>>, script: &Script) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            match h.trim_end().split_once(':') {
                Some((k, v)) => headers.insert(k.to_ascii_lowercase(), v.trim().to_string()),
                None => break,
            };
        }
        let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let seen = Seen { method, path, headers, body: text(&body) };
        let (status, answer) = script(&seen);
        log.lock().unwrap().push(seen);
        let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n", answer.len());
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(answer.as_bytes())).is_err() {
            return;
        }
    }
}

#[test]
fn new_writes_a_handler_and_the_stack_then_build_makes_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = sedge(dir.path(), &["new", "hello", "--lang", "python3-http", "--prefix", "me"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in ["handler.py", "requirements.txt", "__init__.py"] {
        assert!(dir.path().join("hello").join(file).is_file(), "{file}");
    }
    let stack = std::fs::read_to_string(dir.path().join("stack.yml")).unwrap();
    assert!(stack.contains("  hello:\n    lang: python3-http\n    handler: ./hello\n    image: me/hello:latest\n"));

    let again = sedge(dir.path(), &["new", "hello", "--lang", "python3"], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("function hello is already in the stack file"), "{}", text(&again.stderr));
    let bad = sedge(dir.path(), &["new", "Bad_Name", "--lang", "python3"], "");
    assert!(text(&bad.stderr).contains("function name \"Bad_Name\" is not valid"), "{}", text(&bad.stderr));
    let lang = sedge(dir.path(), &["new", "other", "--lang", "cobol"], "");
    assert!(text(&lang.stderr).contains("python3-http"), "{}", text(&lang.stderr));

    assert!(sedge(dir.path(), &["new", "second", "--lang", "python3"], "").status.success());
    let build = sedge(dir.path(), &["build", "--state", "st", "--filter", "second"], "");
    assert!(build.status.success(), "{}", text(&build.stderr));
    assert!(text(&build.stdout).contains("[second] Built second:latest (fork mode)."), "{}", text(&build.stdout));
    assert!(dir.path().join("st/bundles/second_latest/bundle.json").is_file());
    assert!(!dir.path().join("st/bundles/me_hello_latest").exists(), "--filter builds one function");

    let missing = sedge(dir.path(), &["build", "--filter", "nope"], "");
    assert!(text(&missing.stderr).contains("no function nope in stack.yml"), "{}", text(&missing.stderr));
}

#[test]
fn deploy_builds_then_puts_and_posts_only_after_a_404() {
    let mock = Mock::start(|r| match r.method.as_str() {
        "PUT" if r.body.contains("\"fresh\"") => (404, "not found".into()),
        "PUT" => (200, String::new()),
        _ => (202, String::new()),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("fresh")).unwrap();
    std::fs::write(dir.path().join("fresh/handler.py"), "def handle(req):\n    return req\n").unwrap();
    std::fs::write(dir.path().join("env.yml"), "environment:\n  workers: 4\n  mode_flag: true\n").unwrap();
    let stack = format!(
        "version: 1.0\nprovider:\n  name: openfaas\n  gateway: {}\nfunctions:\n  fresh:\n    lang: python3\n    \
         handler: ./fresh\n    image: fresh:latest\n    environment_file: [env.yml]\n    environment:\n      \
         workers: 8\n  wc:\n    image: wc\n    fprocess: wc -l\n",
        mock.url
    );
    std::fs::write(dir.path().join("stack.yml"), stack).unwrap();

    let out = sedge(dir.path(), &["deploy", "--state", "st"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Deploying: fresh.\n\nDeployed. 202 Accepted.\n"), "{stdout}");
    assert!(stdout.contains("Deploying: wc.\n\nDeployed. 200 OK.\n"), "{stdout}");
    assert!(dir.path().join("st/bundles/fresh_latest/bundle.json").is_file(), "deploy built the missing bundle");

    let calls: Vec<(String, String)> = mock.seen().iter().map(|s| (s.method.clone(), s.path.clone())).collect();
    let expected = [("PUT", "/system/functions"), ("POST", "/system/functions"), ("PUT", "/system/functions")];
    assert_eq!(calls, expected.map(|(m, p)| (m.to_string(), p.to_string())));
    let seen = mock.seen();
    assert_eq!(seen[0].headers["authorization"], "Basic YWRtaW46cHc=", "admin:pw");
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(body["service"], "fresh");
    assert_eq!(body["envVars"], serde_json::json!({"workers": "8", "mode_flag": "true"}));
}

#[test]
fn invoke_sends_stdin_without_auth_and_fails_on_4xx_5xx() {
    let mock = Mock::start(|r| match r.path.as_str() {
        "/function/echo.openfaas-fn" => (200, format!("got {}", r.body)),
        "/async-function/echo.dev" => (202, String::new()),
        _ => (500, "boom".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = sedge(dir.path(), &["invoke", "echo", "--gateway", &mock.url, "-H", "X-Test: 1"], "hi");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "got hi");
    let seen = mock.seen();
    assert_eq!(seen[0].method, "POST");
    assert!(!seen[0].headers.contains_key("authorization"), "invoke carries no credentials");
    assert_eq!(seen[0].headers["x-test"], "1");

    let out = sedge(dir.path(), &["invoke", "echo", "--async", "-n", "dev", "--gateway", &mock.url], "");
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("Function submitted asynchronously."));

    let out = sedge(dir.path(), &["invoke", "broken", "--gateway", &mock.url], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("500 Internal Server Error - boom"), "{}", text(&out.stderr));
}

#[test]
fn secrets_logs_and_remove_report_the_gateway_answers() {
    let mock = Mock::start(|r| {
        match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/system/secrets") => (409, "secret exists".into()),
        ("DELETE", "/system/secrets") => (202, String::new()),
        ("GET", "/system/secrets") => (200, r#"[{"name":"db"},{"name":"api-key"}]"#.into()),
        ("DELETE", "/system/functions") => (404, "no such function".into()),
        ("GET", p) if p.starts_with("/system/logs?") => (
            200,
            "{\"name\":\"f\",\"namespace\":\"openfaas-fn\",\"instance\":\"f-1\",\"timestamp\":\"T1\",\"text\":\"one\"}\n\
             {\"name\":\"f\",\"namespace\":\"openfaas-fn\",\"instance\":\"f-2\",\"timestamp\":\"T2\",\"text\":\"two\"}\n"
                .into(),
        ),
        _ => (500, "unexpected".into()),
    }
    });
    let dir = tempfile::tempdir().unwrap();
    let gw = ["--gateway", mock.url.as_str()];
    let run = |args: &[&str], stdin: &str| sedge(dir.path(), &[args, &gw[..]].concat(), stdin);

    let out = run(&["secret", "create", "db"], "s3cret\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("secret db already exists"), "{}", text(&out.stderr));
    assert_eq!(mock.seen()[0].body, r#"{"name":"db","value":"s3cret"}"#);

    let out = run(&["secret", "list", "-o", "json"], "");
    let names: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(names, serde_json::json!([{"name": "db"}, {"name": "api-key"}]));
    assert!(run(&["secret", "rm", "db"], "").status.success());

    let out = run(&["logs", "f", "--tail", "2"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "T1 f-1 one\nT2 f-2 two\n");
    let logs = mock.seen().into_iter().find(|s| s.path.starts_with("/system/logs")).unwrap();
    assert!(logs.path.contains("name=f") && logs.path.contains("tail=2") && logs.path.contains("follow=false"));

    let out = run(&["remove", "ghost"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no function ghost found"), "{}", text(&out.stderr));
}

#[test]
fn an_unreachable_gateway_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = sedge(dir.path(), &["list", "--gateway", "http://127.0.0.1:1"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("could not reach the gateway at http://127.0.0.1:1"), "{}", text(&out.stderr));
    let out = sedge(dir.path(), &["version", "--gateway", "http://127.0.0.1:1"], "");
    assert!(out.status.success(), "version still prints the CLI's");
    assert!(text(&out.stdout).starts_with("CLI:\n version: "));
}

//! The shipped templates, built into bundles and run for real with `python3` from `PATH`.
//!
//! `python3`: `echo hi | <fprocess>` in the bundle prints the handler's answer. `python3-http`: the server
//! answers `/_/health`, keeps connections alive, formats dict/str answers as OpenFaaS's template does and turns
//! handler exceptions into 500s. A handler with requirements gets a venv whose python the manifest names.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sedge_core::bundle::BundleManifest;
use sedge_runtime::{build::build_bundle, bundle, templates};

/// A handler folder holding `files`, or the template's starter handler when `files` is empty.
fn handler(lang: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let starter = templates::find(lang).unwrap().handler_files;
    for (rel, content) in starter.iter().copied().chain(files.iter().copied()) {
        std::fs::write(dir.path().join(rel), content).unwrap();
    }
    dir
}

fn build(state: &Path, image: &str, lang: &str, handler: &Path) -> (PathBuf, BundleManifest) {
    build_bundle(state, image, lang, handler, &mut |line| eprintln!("[build] {line}")).unwrap();
    bundle::load(state, image).unwrap().unwrap()
}

/// The bundle's process, as the runtime starts it: `fprocess` split on spaces, run in the bundle folder.
fn command(dir: &Path, manifest: &BundleManifest) -> Command {
    let mut argv = manifest.fprocess.split_whitespace();
    let mut cmd = Command::new(argv.next().unwrap());
    cmd.args(argv).current_dir(dir).envs(&manifest.env);
    cmd
}

fn fork_call(dir: &Path, manifest: &BundleManifest, input: &str) -> String {
    let mut child = command(dir, manifest).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python3_starter_handler_echoes_stdin() {
    let state = tempfile::tempdir().unwrap();
    let src = handler("python3", &[]);
    let (dir, manifest) = build(state.path(), "echo", "python3", src.path());
    assert_eq!(fork_call(&dir, &manifest, "hi\n"), "hi\n\n", "print() adds a newline after the returned text");
}

#[test]
fn python3_runs_a_custom_handler_with_utf8() {
    let state = tempfile::tempdir().unwrap();
    let code = "def handle(req):\n    return 'Hello, ' + req.strip() + '!'\n";
    let src = handler("python3", &[("handler.py", code)]);
    let (dir, manifest) = build(state.path(), "hello", "python3", src.path());
    assert_eq!(fork_call(&dir, &manifest, "wörld\n"), "Hello, wörld!\n");
    let silent = handler("python3", &[("handler.py", "def handle(req):\n    return None\n")]);
    let (dir, manifest) = build(state.path(), "silent", "python3", silent.path());
    assert_eq!(fork_call(&dir, &manifest, "x"), "");
}

#[test]
fn requirements_get_a_venv_that_fprocess_uses() {
    let state = tempfile::tempdir().unwrap();
    // `pip` is already in every new venv: installing it needs no network, but still runs pip.
    let code = "import sys\n\ndef handle(req):\n    return sys.prefix\n";
    let src = handler("python3", &[("handler.py", code), ("requirements.txt", "# tools\npip\n")]);
    let (dir, manifest) = build(state.path(), "venv-fn", "python3", src.path());
    let python = dir.join("venv/bin/python3");
    assert_eq!(manifest.fprocess, format!("{} index.py", python.display()));
    assert!(Path::new(manifest.fprocess.split(' ').next().unwrap()).is_absolute());
    let prefix = fork_call(&dir, &manifest, "");
    assert_eq!(Path::new(prefix.trim()), dir.join("venv"), "the handler runs inside the bundle's venv");
}

/// The http server child, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_http(dir: &Path, manifest: &BundleManifest) -> (Server, u16) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server(command(dir, manifest).env("PORT", port.to_string()).spawn().unwrap());
    let ready = manifest.ready_path.clone().unwrap();
    for _ in 0..100 {
        let connected = TcpStream::connect(("127.0.0.1", port));
        if connected.is_ok_and(|mut conn| request(&mut conn, "GET", &ready, &[], b"").0 == 200) {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("python3-http did not answer {ready} on port {port} within 5 s");
}

/// One HTTP/1.1 request on `conn`; returns status, lower-cased headers and body (read by Content-Length).
fn request(conn: &mut TcpStream, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for h in headers {
        head.push_str(&format!("{h}\r\n"));
    }
    if !headers.iter().any(|h| h.starts_with("Transfer-Encoding")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(b"\r\n").unwrap();
    conn.write_all(body).unwrap();
    let mut reader = BufReader::new(conn);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap_or("0").parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let length: usize = header(&headers, "content-length").expect("Content-Length is always set").parse().unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, headers, String::from_utf8(body).unwrap())
}

type Response = (u16, Vec<(String, String)>, String);

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn python3_http_starter_handler_says_hello() {
    let state = tempfile::tempdir().unwrap();
    let src = handler("python3-http", &[]);
    let (dir, manifest) = build(state.path(), "hello-http", "python3-http", src.path());
    let (_server, port) = start_http(&dir, &manifest);
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (status, _, body) = request(&mut conn, "POST", "/", &[], b"anything");
    assert_eq!((status, body.as_str()), (200, "Hello from OpenFaaS!"));
}

const HTTP_HANDLER: &str = r#"
def handle(event, context):
    if event.path == "/boom":
        raise ValueError("kaboom")
    if event.path == "/raw":
        return "plain " + event.method
    return {
        "statusCode": 201,
        "headers": {"X-Test": "yes"},
        "body": {
            "body": event.body.decode(),
            "x": event.query.get("x"),
            "xs": event.query.getlist("x"),
            "type": event.headers.get("content-type"),
            "method": event.method,
            "path": event.path,
            "host": bool(context.hostname),
        },
    }
"#;

#[test]
fn python3_http_formats_answers_and_keeps_connections_alive() {
    let state = tempfile::tempdir().unwrap();
    let src = handler("python3-http", &[("handler.py", HTTP_HANDLER)]);
    let (dir, manifest) = build(state.path(), "web", "python3-http", src.path());
    let (_server, port) = start_http(&dir, &manifest);
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();

    let (status, headers, body) = request(&mut conn, "GET", "/_/health", &[], b"");
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(header(&headers, "connection"), None, "HTTP/1.1 keep-alive needs no Connection header");

    let (status, headers, body) =
        request(&mut conn, "POST", "/echo?x=1&x=2", &["Content-Type: text/plain"], "héllo".as_bytes());
    assert_eq!(status, 201);
    assert_eq!(header(&headers, "x-test"), Some("yes"));
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let expected = serde_json::json!({"body": "héllo", "x": "1", "xs": ["1", "2"], "type": "text/plain",
        "method": "POST", "path": "/echo", "host": true});
    assert_eq!(json, expected);

    // Same connection again: a plain string answer, then a chunked request body.
    let (status, headers, body) = request(&mut conn, "PUT", "/raw", &[], b"");
    assert_eq!((status, body.as_str()), (200, "plain PUT"));
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    let chunked = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let (status, _, body) = request(&mut conn, "POST", "/c", &["Transfer-Encoding: chunked"], chunked);
    assert_eq!(status, 201);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["body"], "abcde");

    let (status, _, body) = request(&mut conn, "POST", "/boom", &[], b"");
    assert_eq!((status, body.as_str()), (500, "kaboom"));
}

/// The `sedge` helper module's own tests (`templates/tests/test_sedge.py`, stdlib `unittest` against a local
/// HTTP server checking the multipart upload), run with `python3` from `PATH`.
#[test]
fn the_sedge_python_helper_passes_its_own_tests() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/tests");
    let out = Command::new("python3")
        .args(["-B", "-m", "unittest", "discover", "-s", dir])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("OK"), "{report}");
}

/// Both Python templates ship the `sedge` helper beside `index.py`, so `import sedge` works in a handler.
#[test]
fn python_bundles_carry_the_sedge_helper() {
    for lang in ["python3", "python3-http"] {
        let files = templates::find(lang).unwrap().files;
        let helper = files.iter().find(|(name, _)| *name == "sedge.py").map(|(_, c)| *c);
        assert!(helper.is_some_and(|c| c.contains("def register_model(")), "{lang}");
    }
}

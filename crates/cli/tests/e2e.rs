//! The whole user journey over real HTTP and the real CLI: `sedge new` two Python handlers, write a
//! `stack.yml` with a fork-mode `cat` beside them, `sedge deploy -f`, then list, describe, invoke each, scale,
//! read logs, create / use / remove a secret, and remove the functions.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, ensure};
use reqwest::{Method, StatusCode};
use sedge_testkit::TestGateway;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

/// Runs the CLI in `dir` against `gw`; returns stdout, failing on a non-zero exit.
async fn sedge(gw: &TestGateway, dir: &Path, args: &[&str], stdin: &[u8]) -> anyhow::Result<String> {
    let mut child = tokio::process::Command::new(SEDGE)
        .args(args)
        .current_dir(dir)
        .env("SEDGE_GATEWAY", &gw.url)
        .env("SEDGE_STATE", gw.state_dir())
        .env_remove("SEDGE_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().context("stdin")?;
    input.write_all(stdin).await?;
    drop(input);
    let out = child.wait_with_output().await?;
    ensure!(
        out.status.success(),
        "sedge {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

const PY_HANDLER: &str = "def handle(req):\n    return 'Hello, ' + req\n";

const PY_HTTP_HANDLER: &str = r#"import os, sys

def handle(event, context):
    with open(os.path.join(os.environ["SEDGE_SECRETS_DIR"], "api-key")) as f:
        key = f.read()
    print("handled " + event.method + " " + event.path, file=sys.stderr, flush=True)
    return {"statusCode": 201, "body": {"key_length": len(key), "body": event.body.decode(), "path": event.path,
                                        "query": event.query}, "headers": {"X-Handler": "web-py"}}
"#;

#[tokio::test]
async fn deploy_invoke_scale_logs_secrets_remove() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let project = tempfile::tempdir()?;
    let dir = project.path();

    // Two handlers from the templates, and a plain executable, in one stack.yml.
    sedge(&gw, dir, &["new", "hello-py", "--lang", "python3"], b"").await?;
    sedge(&gw, dir, &["new", "web-py", "--lang", "python3-http"], b"").await?;
    std::fs::write(dir.join("hello-py/handler.py"), PY_HANDLER)?;
    std::fs::write(dir.join("web-py/handler.py"), PY_HTTP_HANDLER)?;
    let mut stack = std::fs::read_to_string(dir.join("stack.yml"))?;
    stack.push_str("  echo:\n    image: echo\n    fprocess: cat\n");
    stack = stack.replace("    image: web-py:latest\n", "    image: web-py:latest\n    secrets:\n      - api-key\n");
    std::fs::write(dir.join("stack.yml"), &stack)?;

    // The secret must exist before a function that names it deploys.
    sedge(&gw, dir, &["secret", "create", "api-key", "--from-literal", "s3cr3t-value"], b"").await?;
    let deployed = sedge(&gw, dir, &["deploy", "-f", "stack.yml"], b"").await?;
    assert_eq!(deployed.matches("Deployed.").count(), 3, "{deployed}");

    // List and describe.
    let listed: Vec<Value> = gw.system(Method::GET, "/system/functions").send().await?.json().await?;
    let mut names: Vec<&str> = listed.iter().filter_map(|f| f["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["echo", "hello-py", "web-py"]);
    let cli_list: Vec<Value> = serde_json::from_str(&sedge(&gw, dir, &["list", "-o", "json"], b"").await?)?;
    assert_eq!(cli_list.len(), 3);
    for name in ["echo", "hello-py", "web-py"] {
        gw.wait_available(name, 1).await?;
    }
    let web = gw.describe("web-py").await?.context("web-py")?;
    assert_eq!(web["secrets"], serde_json::json!(["api-key"]));
    assert_eq!(web["image"], "web-py:latest");
    assert_eq!(web["replicas"], 1);

    // Invoke each, over HTTP and through the CLI.
    let r = gw.invoke("echo", "ping").await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-call-id") && r.headers().contains_key("x-start-time"));
    assert_eq!(r.text().await?, "ping");
    assert_eq!(sedge(&gw, dir, &["invoke", "echo"], b"from the cli").await?, "from the cli");
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("chunked "), Ok("body")];
    let r = gw
        .request(Method::POST, "/function/echo")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await?;
    assert_eq!(r.text().await?, "chunked body");
    assert_eq!(gw.invoke("hello-py", "world").await?.text().await?, "Hello, world\n");
    let r = gw
        .request(Method::POST, "/function/web-py.openfaas-fn/some/path?x=1")
        .header("x-call-id", "my-call-id")
        .body("payload")
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["x-handler"], "web-py");
    assert_eq!(r.headers()["x-call-id"], "my-call-id");
    let body: Value = r.json().await?;
    assert_eq!(body["key_length"], "s3cr3t-value".len());
    assert_eq!(body["body"], "payload");
    assert_eq!(body["path"], "/some/path");

    // Scale out and back.
    sedge(&gw, dir, &["scale", "echo", "--replicas", "3"], b"").await?;
    gw.wait_available("echo", 3).await?;
    gw.system(Method::POST, "/system/scale-function/web-py")
        .json(&serde_json::json!({"serviceName": "web-py", "replicas": 2}))
        .send()
        .await?
        .error_for_status()?;
    gw.wait_available("web-py", 2).await?;
    assert_eq!(gw.invoke("web-py", "again").await?.status(), StatusCode::CREATED);
    sedge(&gw, dir, &["scale", "web-py", "--replicas", "1"], b"").await?;
    gw.wait_available("web-py", 1).await?;

    // Logs: the handler's stderr, and the fork runner's per-call lines.
    let logs = gw.system(Method::GET, "/system/logs?name=web-py&tail=50").send().await?;
    assert_eq!(logs.headers()["content-type"], "application/x-ndjson");
    let text = logs.text().await?;
    let lines: Vec<Value> = text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert!(lines.iter().any(|l| l["text"] == "handled POST /some/path"), "{text}");
    assert!(lines.iter().all(|l| l["name"] == "web-py" && l["namespace"] == "openfaas-fn"));
    // follow=true streams new lines as they are written.
    let mut follow = gw.system(Method::GET, "/system/logs?name=echo&tail=0&follow=true").send().await?;
    assert_eq!(gw.invoke("echo", "followed").await?.status(), StatusCode::OK);
    let chunk =
        tokio::time::timeout(std::time::Duration::from_secs(10), follow.chunk()).await??.context("stream ended")?;
    let line: Value = serde_json::from_slice(&chunk)?;
    assert_eq!(line["name"], "echo");
    assert!(line["text"].as_str().is_some_and(|t| t.starts_with("POST /: 200")), "{line}");
    drop(follow);
    let echo_logs = sedge(&gw, dir, &["logs", "echo", "--tail", "5"], b"").await?;
    assert!(echo_logs.contains("POST /: 200"), "{echo_logs}");

    // Secrets: listed by name only; the value is never returned; the file is private to the function.
    let secrets = gw.system(Method::GET, "/system/secrets").send().await?.text().await?;
    assert!(secrets.contains("api-key") && !secrets.contains("s3cr3t"), "{secrets}");
    let all = gw.system(Method::GET, "/system/functions").send().await?.text().await?;
    assert!(!all.contains("s3cr3t"));
    let file = gw.state_dir().join("run/openfaas-fn/web-py/secrets/api-key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
    assert!(!gw.state_dir().join("run/openfaas-fn/echo/secrets/api-key").exists());
    sedge(&gw, dir, &["secret", "remove", "api-key"], b"").await?;
    assert!(!file.exists());
    let secrets: Vec<Value> = gw.system(Method::GET, "/system/secrets").send().await?.json().await?;
    assert!(secrets.is_empty());

    // Remove everything.
    for name in ["echo", "hello-py", "web-py"] {
        sedge(&gw, dir, &["remove", name], b"").await?;
    }
    let listed: Vec<Value> = gw.system(Method::GET, "/system/functions").send().await?.json().await?;
    assert!(listed.is_empty());
    assert_eq!(gw.invoke("echo", "x").await?.status(), StatusCode::NOT_FOUND);
    Ok(())
}

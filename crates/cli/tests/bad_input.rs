//! Bad input gets a clear 4xx, never a crash: a corpus of broken specs, bodies, names and queries, each
//! checked for its status and a message that names what is wrong; the server stays healthy throughout.

use reqwest::{Method, StatusCode};
use sedge_testkit::TestGateway;
use serde_json::json;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

struct Case {
    method: Method,
    path: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    /// Text the answer must contain.
    says: &'static str,
}

fn case(method: Method, path: &'static str, body: impl Into<Vec<u8>>, status: u16, says: &'static str) -> Case {
    Case { method, path, body: body.into(), status: StatusCode::from_u16(status).unwrap(), says }
}

fn corpus() -> Vec<Case> {
    use Method as M;
    let deploy = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        case(M::POST, "/system/functions", "", 400, "request body is empty"),
        case(M::POST, "/system/functions", "not json", 400, "invalid JSON body"),
        case(M::POST, "/system/functions", "{}", 400, "missing field `service`"),
        case(M::POST, "/system/functions", r#"{"service": 5}"#, 400, "service"),
        case(M::POST, "/system/functions", nested.clone(), 400, "invalid JSON body"),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "../etc", "image": "x", "envProcess": "cat"})),
            400,
            "service: function name \"../etc\" is not valid",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "Caps", "image": "x", "envProcess": "cat"})),
            400,
            "is not valid",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "namespace": "../../x", "image": "x", "envProcess": "cat"})),
            400,
            "namespace",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "x".repeat(64), "image": "x", "envProcess": "cat"})),
            400,
            "1-63",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "cat", "envVars": {"exec_timeout": "soon"}})),
            400,
            "envVars.exec_timeout: \"soon\" is not a duration",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "cat", "envVars": {"max_inflight": "-1"}})),
            400,
            "envVars.max_inflight",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "cat", "envVars": {"mode": "turbo"}})),
            400,
            "envVars.mode",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "cat", "limits": {"memory": "12x"}})),
            400,
            "limits.memory: \"12x\" is not a quantity",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "cat", "requests": {"cpu": "fast"}})),
            400,
            "requests.cpu",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(
                json!({"service": "a", "image": "x", "envProcess": "cat", "labels": {"com.openfaas.scale.min": "two"}}),
            ),
            400,
            "labels.com.openfaas.scale.min",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(
                json!({"service": "a", "image": "x", "envProcess": "cat", "labels": {"com.openfaas.scale.min": "3", "com.openfaas.scale.max": "2"}}),
            ),
            400,
            "below",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "cat", "secrets": ["../../root"]})),
            400,
            "secrets[0]",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "cat", "secrets": ["missing"]})),
            400,
            "does not exist",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "x", "envProcess": "/no/such/program"})),
            400,
            "tried /no/such/program",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(json!({"service": "a", "image": "never-built"})),
            400,
            "no bundle built for image \"never-built\"",
        ),
        case(
            M::POST,
            "/system/functions",
            deploy(
                json!({"service": "a", "image": "x", "envProcess": "cat", "annotations": {"com.openfaas.ready.http.path": "health"}}),
            ),
            400,
            "must start with '/'",
        ),
        case(
            M::PUT,
            "/system/functions",
            deploy(json!({"service": "ghost", "image": "x", "envProcess": "cat"})),
            404,
            "ghost.openfaas-fn not found",
        ),
        case(M::PUT, "/system/functions", "[1,2]", 400, "invalid JSON body"),
        case(M::DELETE, "/system/functions", "{", 400, "invalid JSON body"),
        case(M::DELETE, "/system/functions", r#"{"functionName": "ghost"}"#, 404, "not found"),
        case(M::DELETE, "/system/functions", r#"{"functionName": "../x"}"#, 400, "functionName"),
        case(M::GET, "/system/function/ghost", "", 404, "not found"),
        case(M::GET, "/system/function/Bad_Name", "", 400, "is not valid"),
        case(M::POST, "/system/scale-function/ghost", r#"{"serviceName":"ghost","replicas":2}"#, 404, "not found"),
        case(M::POST, "/system/scale-function/ghost", r#"{"replicas":"two"}"#, 400, "replicas"),
        case(M::POST, "/system/secrets", r#"{"name":"../x","value":"v"}"#, 400, "secret name"),
        case(M::POST, "/system/secrets", r#"{"name":"ok"}"#, 400, "has no value"),
        case(M::POST, "/system/secrets", r#"{"name":"ok","rawValue":"***"}"#, 400, "base64"),
        case(M::PUT, "/system/secrets", r#"{"name":"ghost","value":"v"}"#, 404, "not found"),
        case(M::DELETE, "/system/secrets", r#"{"name":"ghost"}"#, 404, "not found"),
        case(M::GET, "/system/secrets?namespace=..", "", 400, "namespace"),
        case(M::GET, "/system/logs", "", 422, "name is required"),
        case(M::GET, "/system/logs?name=ghost", "", 404, "not found"),
        case(M::GET, "/system/logs?name=echo&tail=many", "", 422, "tail"),
        case(M::GET, "/system/logs?name=echo&since=yesterday", "", 422, "since"),
        case(M::GET, "/system/logs?name=echo&follow=maybe", "", 422, "follow"),
        case(M::GET, "/system/functions?namespace=UPPER", "", 400, "namespace"),
        case(M::POST, "/function/ghost", "x", 404, "function ghost.openfaas-fn not found"),
        case(M::POST, "/function/..%2Fetc", "x", 400, "is not valid"),
        case(M::POST, "/function/a.b.c", "x", 400, "is not valid"),
        case(M::POST, "/function/echo", vec![b'x'; 2048], 413, "larger than the limit of 1024 bytes"),
        case(M::GET, "/nowhere", "", 404, "no such route"),
    ]
}

#[tokio::test]
async fn every_broken_input_gets_a_clear_4xx() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(SEDGE, &["--max-body", "1Ki"]).await?;
    assert_eq!(gw.deploy(json!({"service": "echo", "image": "x", "envProcess": "cat"})).await?, StatusCode::ACCEPTED);
    for c in corpus() {
        let r = gw.system(c.method.clone(), c.path).body(c.body.clone()).send().await?;
        let status = r.status();
        let text = r.text().await?;
        assert_eq!(status, c.status, "{} {} answered {status}: {text}", c.method, c.path);
        assert!(
            text.contains(c.says),
            "{} {}: expected the answer to say {:?}, got {text:?}",
            c.method,
            c.path,
            c.says
        );
    }
    let r = gw.request(Method::GET, "/system/functions").send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"Restricted\"");
    let r = gw.request(Method::GET, "/system/functions").basic_auth("admin", Some("wrong")).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Still healthy, still serving.
    assert_eq!(gw.request(Method::GET, "/healthz").send().await?.status(), StatusCode::OK);
    assert_eq!(gw.invoke("echo", "fine").await?.text().await?, "fine");
    Ok(())
}

#[tokio::test]
async fn broken_stack_files_are_refused_with_faas_cli_messages() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let dir = tempfile::tempdir()?;
    let cases = [
        (
            "provider:\n  name: faas\nfunctions: {}\n",
            "['openfaas'] is the only valid \"provider.name\" for the OpenFaaS CLI, but you gave: faas",
        ),
        ("version: 2.0\nfunctions: {}\n", "[1.0] are the only valid versions for the stack file - found: 2.0"),
        (
            "functions:\n  mltest:\n    image: x\n    fprocess: cat\n    limits:\n      memory: 12x\n",
            "functions.mltest.limits.memory: \"12x\" is not a quantity",
        ),
        (
            "functions:\n  a:\n    image: x\n    fprocess: cat\n    environment:\n      exec_timeout: soon\n",
            "functions.a.environment.exec_timeout",
        ),
        ("functions:\n  Bad_Name:\n    image: x\n", "functions.Bad_Name"),
        ("functions: [", "stack file is not valid"),
        ("functions:\n  a:\n    lang: cobol\n    handler: ./a\n    image: a\n", "cobol"),
    ];
    for (i, (stack, says)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("stack{i}.yml"));
        std::fs::write(&file, stack)?;
        let out = tokio::process::Command::new(SEDGE)
            .args(["deploy", "-f"])
            .arg(&file)
            .env("SEDGE_GATEWAY", &gw.url)
            .env("SEDGE_STATE", gw.state_dir())
            .current_dir(dir.path())
            .output()
            .await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "stack {i} was accepted");
        assert!(stderr.contains(says), "stack {i}: expected {says:?} in {stderr}");
    }
    let listed: Vec<serde_json::Value> = gw.system(Method::GET, "/system/functions").send().await?.json().await?;
    assert!(listed.is_empty(), "nothing from a broken stack may be deployed");
    Ok(())
}

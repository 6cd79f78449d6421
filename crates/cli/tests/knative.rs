//! Knative Services end to end over real HTTP and the real CLI: `sedge deploy -f service.yaml` (a python3
//! standard-library server on `$PORT`, containerConcurrency 4, an autoscaling annotation), invoke it, read it back
//! with `describe`; then the Knative API: POST again (409), PUT with a harmless unsupported field (Warning
//! header), PUT with `volumes` (400 naming the path); and OpenFaaS scaling labels with bad values (400 naming
//! the label).

use std::path::Path;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use sedge_testkit::TestGateway;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const SERVICES: &str = "/apis/serving.knative.dev/v1/namespaces/openfaas-fn/services";

const SERVER: &str = r#"import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        out = b"hello " + body + b" from " + os.environ.get("TARGET", "?").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

fn service(script: &Path, extra_container_lines: &str, extra_spec_lines: &str) -> String {
    format!(
        r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: kn-hello
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/max-scale: "3"
    spec:
      containerConcurrency: 4
      timeoutSeconds: 30
{extra_spec_lines}      containers:
        - image: python3
          args: [{script}]
          env:
            - name: TARGET
              value: knative
          readinessProbe:
            httpGet:
              path: /
{extra_container_lines}"#,
        script = script.display()
    )
}

#[tokio::test]
async fn knative_services_deploy_through_the_cli_and_the_api() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let project = tempfile::tempdir()?;
    let dir = project.path();
    let script = dir.join("server.py");
    std::fs::write(&script, SERVER)?;

    // The CLI: a harmless unsupported field is deployed with a warning on stderr.
    let yaml = service(&script, "          imagePullPolicy: Always\n", "");
    std::fs::write(dir.join("service.yaml"), &yaml)?;
    let (stdout, stderr) = gw.cli(dir, &["deploy", "-f", "service.yaml"]).await?;
    assert!(stdout.contains("Deployed."), "{stdout}");
    assert!(stderr.contains("Warning: spec.template.spec.containers[0].imagePullPolicy: ignored"), "{stderr}");

    gw.wait_available("kn-hello", 1).await?;
    let r = gw.invoke("kn-hello", "world").await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await?, "hello world from knative");

    let (described, _) = gw.cli(dir, &["describe", "kn-hello"]).await?;
    assert!(described.contains("max_inflight=4"), "{described}");
    assert!(described.contains("autoscaling.knative.dev/max-scale=3"), "{described}");
    assert!(described.contains("mode=http"), "{described}");

    // The API: the same Service again is a conflict.
    let r =
        gw.system(Method::POST, SERVICES).header("content-type", "application/yaml").body(yaml.clone()).send().await?;
    assert_eq!(r.status(), StatusCode::CONFLICT, "{}", r.text().await?);

    // PUT with an unsupported but harmless field: 200, a Kubernetes-style Warning header, the same in the body.
    let harmless = service(&script, "          ports:\n            - containerPort: 8080\n", "");
    let r = gw.system(Method::PUT, &format!("{SERVICES}/kn-hello")).body(harmless).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let warnings: Vec<String> =
        r.headers().get_all("warning").iter().map(|v| v.to_str().unwrap_or_default().to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("299 - \"spec.template.spec.containers[0].ports: ignored")),
        "{warnings:?}"
    );
    let body: Value = r.json().await?;
    assert_eq!(body["warnings"][0]["path"], "spec.template.spec.containers[0].ports", "{body}");
    assert_eq!(body["spec"]["template"]["spec"]["containerConcurrency"], 4, "{body}");

    // GET echoes the stored Service.
    let r = gw.system(Method::GET, &format!("{SERVICES}/kn-hello")).send().await?;
    let echoed: Value = r.json().await?;
    assert_eq!(echoed["kind"], "Service");
    assert_eq!(echoed["metadata"]["name"], "kn-hello");

    // PUT with volumes: refused, naming the path; the running function is unchanged.
    let volumes = service(&script, "", "      volumes:\n        - name: data\n          emptyDir: {}\n");
    let r = gw.system(Method::PUT, &format!("{SERVICES}/kn-hello")).body(volumes).send().await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await?;
    assert!(text.contains("spec.template.spec.volumes"), "{text}");
    assert_eq!(gw.invoke("kn-hello", "again").await?.text().await?, "hello again from knative");

    // JSON bodies work too; PUT on an unknown service is a 404.
    let json_body = json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "kn-other"},
        "spec": {"template": {"spec": {"containers": [{"image": "python3", "args": [script.display().to_string()]}]}}}
    });
    let r = gw.system(Method::PUT, &format!("{SERVICES}/kn-other")).json(&json_body).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // OpenFaaS scaling labels are checked at deploy time, naming the label.
    for (label, value) in [("com.openfaas.scale.target", "-3"), ("com.openfaas.scale.zero-duration", "5 apples")] {
        let r = gw
            .system(Method::POST, "/system/functions")
            .json(&json!({"service": "scaled", "image": "x", "envProcess": "cat", "labels": {label: value}}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let text = r.text().await.context("body")?;
        assert!(text.contains(&format!("labels.{label}")), "{text}");
    }

    // DELETE removes it.
    let r = gw.system(Method::DELETE, &format!("{SERVICES}/kn-hello")).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(gw.describe("kn-hello").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_knative_service_with_initial_scale_zero_starts_at_zero_and_wakes_on_a_call() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("server.py");
    std::fs::write(&script, SERVER)?;
    let yaml = service(&script, "", "").replace(
        "autoscaling.knative.dev/max-scale: \"3\"",
        "autoscaling.knative.dev/max-scale: \"3\"\n        autoscaling.knative.dev/initial-scale: \"0\"",
    );
    let r = gw.system(Method::POST, SERVICES).header("content-type", "application/yaml").body(yaml).send().await?;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await?);
    let described = gw.describe("kn-hello").await?.context("deployed")?;
    assert_eq!(described["replicas"], 0, "initial-scale 0: nothing runs until a call");
    let r = gw.invoke("kn-hello", "you").await?;
    assert_eq!(r.headers()["x-sedge-cold-start"], "true");
    assert_eq!(r.text().await?, "hello you from knative");
    Ok(())
}

//! Tests of the Knative Service conversion: every mapping, warning and refusal.

use super::*;
use crate::FunctionSpec;
use crate::autoscale::Scaling;

const SERVICE: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  namespace: demo
  labels: { team: a, tier: web }
  annotations: { note: outer }
spec:
  template:
    metadata:
      labels: { tier: api }
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        note: inner
    spec:
      containerConcurrency: 4
      timeoutSeconds: 20
      containers:
        - name: user-container
          image: python3
          command: [python3]
          args: [/srv/server.py, --verbose]
          env:
            - { name: TARGET, value: world }
            - { name: COUNT, value: 3 }
          resources:
            limits: { cpu: "1", memory: 256Mi }
            requests: { cpu: 100m }
          readinessProbe:
            httpGet: { path: /healthz }
"#;

fn one(text: &str) -> KnativeService {
    parse_one(text).unwrap_or_else(|e| panic!("{e}"))
}

fn with(insert_after: &str, lines: &str) -> String {
    assert!(SERVICE.contains(insert_after), "{insert_after}");
    SERVICE.replacen(insert_after, &format!("{insert_after}\n{lines}"), 1)
}

fn err(text: &str) -> SpecError {
    parse(text).expect_err("refused")
}

#[test]
fn detects_knative_files() {
    assert!(is_knative_yaml(SERVICE));
    assert!(is_knative_yaml(r#"{"apiVersion":"serving.knative.dev/v1","kind":"Service"}"#));
    assert!(!is_knative_yaml("version: 1.0\nfunctions: {}\n"));
    assert!(!is_knative_yaml("apiVersion: sedge.dev/v1\nkind: ModelFunction\n"));
}

#[test]
fn maps_every_supported_field() {
    let s = one(SERVICE);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let d = s.deployment;
    assert_eq!((d.service.as_str(), d.namespace.as_deref(), d.image.as_str()), ("hello", Some("demo"), "python3"));
    assert_eq!(d.env_process.as_deref(), Some("python3 /srv/server.py --verbose"));
    let env = d.env_vars.clone().unwrap();
    for (k, v) in [
        ("TARGET", "world"),
        ("COUNT", "3"),
        ("mode", "http"),
        ("max_inflight", "4"),
        ("write_timeout", "20s"),
        ("exec_timeout", "20s"),
    ] {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
    }
    let labels = d.labels.clone().unwrap();
    assert_eq!((labels["team"].as_str(), labels["tier"].as_str()), ("a", "api"), "the template wins");
    let annotations = d.annotations.clone().unwrap();
    assert_eq!(annotations["note"], "inner");
    assert_eq!(annotations[READY_PATH_ANNOTATION], "/healthz");
    assert_eq!(annotations[SOURCE_ANNOTATION], KNATIVE_SERVICE_SOURCE);
    assert_eq!(annotations["autoscaling.knative.dev/min-scale"], "1");
    let limits = d.limits.clone().unwrap();
    assert_eq!((limits.cpu.as_deref(), limits.memory.as_deref()), (Some("1"), Some("256Mi")));
    assert_eq!(d.requests.clone().unwrap().cpu.as_deref(), Some("100m"));

    let spec = FunctionSpec::try_from(d).expect("a valid function");
    assert_eq!(spec.max_inflight, Some(4));
    assert_eq!(spec.queue, 40, "10 × containerConcurrency");
    assert_eq!(spec.timeouts.exec, Some(std::time::Duration::from_secs(20)));
    let Scaling::Knative(kpa) = spec.scaling else { panic!("{:?}", spec.scaling) };
    assert_eq!((kpa.min, kpa.total), (1, 4.0));
}

#[test]
fn defaults_json_and_several_documents() {
    let minimal = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers: [{image: web}]\n";
    let d = one(minimal).deployment;
    assert_eq!((d.namespace, d.env_process, d.labels), (None, None, None), "no command: the bundle's");
    let env = d.env_vars.unwrap();
    assert_eq!(env["write_timeout"], "300s", "Knative's default timeoutSeconds");
    assert!(!env.contains_key("max_inflight"), "containerConcurrency 0 is unlimited");
    let spec = FunctionSpec::try_from(one(minimal).deployment).unwrap();
    assert!(matches!(spec.scaling, Scaling::Knative(_)), "a Knative Service scales with KPA");
    assert_eq!(spec.queue, 0);

    let args_only = minimal.replace("{image: web}", "{image: python3, args: [-m, http.server]}");
    assert_eq!(one(&args_only).deployment.env_process.as_deref(), Some("python3 -m http.server"));

    let json = r#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","metadata":{"name":"j"},
            "spec":{"template":{"spec":{"containerConcurrency":2,"containers":[{"image":"web"}]}}}}"#;
    assert_eq!(one(json).deployment.env_vars.unwrap()["max_inflight"], "2");

    let two = format!("{minimal}---\n{}---\n", minimal.replace("name: a", "name: b"));
    let names: Vec<String> = parse(&two).unwrap().into_iter().map(|s| s.deployment.service).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(parse_one(&two).is_err(), "the API takes one document");
    let bad = format!("{minimal}---\n{}", minimal.replace("image: web", "image: web, workingDir: /x"));
    assert_eq!(err(&bad).path, "[document 2].spec.template.spec.containers[0].workingDir");
    assert!(parse("").is_err());
}

#[test]
fn harmless_fields_are_ignored_with_a_warning() {
    let text = SERVICE
            .replace(
                "          image: python3\n",
                "          image: python3\n          imagePullPolicy: Always\n          ports: [{containerPort: 8081}]\n          livenessProbe: {httpGet: {path: /live}}\n",
            )
            .replace("      containerConcurrency: 4\n", "      containerConcurrency: 4\n      serviceAccountName: robot\n      enableServiceLinks: false\n")
            .replace("  namespace: demo\n", "  namespace: demo\n  generation: 3\n")
            + "  traffic:\n    - latestRevision: true\n      percent: 100\n      tag: current\nstatus:\n  url: http://x\n";
    let s = one(&text);
    let paths: Vec<&str> = s.warnings.iter().map(|w| w.path.as_str()).collect();
    for expected in [
        "metadata.generation",
        "spec.template.spec.serviceAccountName",
        "spec.template.spec.enableServiceLinks",
        "spec.template.spec.containers[0].imagePullPolicy",
        "spec.template.spec.containers[0].ports",
        "spec.template.spec.containers[0].livenessProbe",
        "spec.traffic[0].tag",
        "status",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    assert!(s.warnings.iter().any(|w| w.to_string().contains("PORT")), "{:?}", s.warnings);
    // The probe on the declared container port is the default one.
    let probe = text.replace("httpGet: { path: /healthz }", "httpGet: { path: /healthz, port: 8081 }");
    assert_eq!(one(&probe).deployment.annotations.unwrap()[READY_PATH_ANNOTATION], "/healthz");
    let tcp = SERVICE.replace("httpGet: { path: /healthz }", "tcpSocket: { port: 8080 }");
    assert!(!one(&tcp).deployment.annotations.unwrap().contains_key(READY_PATH_ANNOTATION));
}

#[test]
fn behaviour_changing_fields_are_refused_by_path() {
    let c = "spec.template.spec.containers[0]";
    let cases = [
            (with("    spec:\n      containerConcurrency: 4", "      volumes: [{name: v, emptyDir: {}}]"), "spec.template.spec.volumes".to_string()),
            (with("          image: python3", "          volumeMounts: [{name: v, mountPath: /v}]"), format!("{c}.volumeMounts")),
            (SERVICE.replace("{ name: TARGET, value: world }", "{ name: TARGET, valueFrom: {secretKeyRef: {name: s, key: k}} }"), format!("{c}.env[0].valueFrom")),
            (SERVICE.replace("      containers:\n", "      containers:\n        - image: sidecar\n"), "spec.template.spec.containers".to_string()),
            (SERVICE.to_string() + "  traffic:\n    - latestRevision: true\n      percent: 50\n    - revisionName: old\n      percent: 50\n", "spec.traffic".to_string()),
            (SERVICE.to_string() + "  traffic:\n    - revisionName: hello-001\n      percent: 100\n", "spec.traffic".to_string()),
            (SERVICE.replace("httpGet: { path: /healthz }", "exec: { command: [true] }"), format!("{c}.readinessProbe.exec")),
            (SERVICE.replace("httpGet: { path: /healthz }", "tcpSocket: { port: 9999 }"), format!("{c}.readinessProbe.tcpSocket.port")),
            (SERVICE.replace("httpGet: { path: /healthz }", "httpGet: { path: /h, port: 9090 }"), format!("{c}.readinessProbe.httpGet.port")),
            (with("          image: python3", "          securityContext: {runAsUser: 1000}"), format!("{c}.securityContext.runAsUser")),
            (with("    spec:\n      containerConcurrency: 4", "      securityContext: {runAsUser: 1000}"), "spec.template.spec.securityContext.runAsUser".to_string()),
            (SERVICE.replace("timeoutSeconds: 20", "timeoutSeconds: 3601"), "spec.template.spec.timeoutSeconds".to_string()),
            (SERVICE.replace("timeoutSeconds: 20", "timeoutSeconds: 0"), "spec.template.spec.timeoutSeconds".to_string()),
            (SERVICE.replace("containerConcurrency: 4", "containerConcurrency: 1001"), "spec.template.spec.containerConcurrency".to_string()),
            (SERVICE.replace("args: [/srv/server.py, --verbose]", "args: [\"a b\"]"), format!("{c}.args[0]")),
            (with("          image: python3", "          mystery: 1"), format!("{c}.mystery")),
            (SERVICE.replace("apiVersion: serving.knative.dev/v1", "apiVersion: serving.knative.dev/v2"), "apiVersion".to_string()),
            (SERVICE.replace("kind: Service", "kind: Route"), "kind".to_string()),
            (SERVICE.replace("          image: python3\n", ""), format!("{c}.image")),
            (SERVICE.replace("  name: hello\n", ""), "metadata.name".to_string()),
            (with("          image: python3", "          env2: x").replace("env2: x", "env:\n            - {name: mode, value: fork}").replace("          env:\n            - { name: TARGET, value: world }\n            - { name: COUNT, value: 3 }\n", ""), format!("{c}.env")),
        ];
    for (text, path) in cases {
        let e = err(&text);
        assert_eq!(e.path, path, "{e}");
    }
    let e = err(&with("    spec:\n      containerConcurrency: 4", "      volumes: []"));
    assert!(e.to_string().starts_with("spec.template.spec.volumes: volumes are not supported"), "{e}");
}

#[test]
fn the_service_echo_round_trips_the_essentials() {
    let d = one(SERVICE).deployment;
    let v = to_service(&d);
    assert_eq!(v["kind"], "Service");
    assert_eq!(v["metadata"]["name"], "hello");
    assert_eq!(v["spec"]["template"]["spec"]["containerConcurrency"], 4);
    assert_eq!(v["spec"]["template"]["spec"]["timeoutSeconds"], 20);
    let container = &v["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"][1], "/srv/server.py");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(v["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"], "1");
    let again = parse_one(&serde_json::to_string(&v).unwrap()).unwrap().deployment;
    assert_eq!((again.env_process, again.env_vars), (d.env_process, d.env_vars));
}

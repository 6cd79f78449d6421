//! A small typed client for the OpenFaaS gateway API, making the same calls faas-cli makes (REFERENCE §8).
//!
//! `/system/*` calls carry basic auth when credentials are known; `/function/*` calls never do. Every
//! unexpected status becomes an error that shows the status and the server's body text.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sedge_core::api::{
    DeleteFunctionRequest, FunctionDeployment, FunctionStatus, GatewayInfo, LogMessage, ScaleServiceRequest, Secret,
};
use sedge_gateway::calls::status::CallView;
use serde::de::DeserializeOwned;

/// Basic-auth credentials for `/system/*`.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User name (`admin`).
    pub user: String,
    /// Password.
    pub password: String,
}

/// A client for one gateway.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<Credentials>,
    token: Option<String>,
}

/// What `GET /system/logs` is asked for.
#[derive(Debug, Clone, Default)]
pub struct LogsQuery {
    /// Function name.
    pub name: String,
    /// Namespace, if not the default.
    pub namespace: Option<String>,
    /// Only the last N lines.
    pub tail: Option<i64>,
    /// Only lines after this RFC 3339 time.
    pub since: Option<String>,
    /// Keep the stream open for new lines.
    pub follow: bool,
}

/// A function call to make through `/function/` or `/async-function/`.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `name` or `name.namespace`.
    pub address: String,
    /// HTTP method.
    pub method: Method,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Queue the call (`/async-function/`) instead of waiting for the result.
    pub asynchronous: bool,
}

impl Client {
    /// A client for the gateway at `gateway` (e.g. `http://127.0.0.1:8080`).
    pub fn new(gateway: &str, auth: Option<Credentials>) -> Result<Self> {
        let base = gateway.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("gateway URL {gateway:?} must start with http://");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("could not set up the HTTP client")?;
        Ok(Self { http, base, auth, token: None })
    }

    /// Sends `Authorization: Bearer TOKEN` on `/system/*` calls when no credentials are set (a function's
    /// `SEDGE_API_TOKEN`, which the model registry accepts).
    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    /// Whether basic-auth credentials are set.
    pub fn has_credentials(&self) -> bool {
        self.auth.is_some()
    }

    /// The gateway's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn system(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match (&self.auth, &self.token) {
            (Some(c), _) => req.basic_auth(&c.user, Some(&c.password)),
            (None, Some(token)) => req.bearer_auth(token),
            (None, None) => req,
        }
    }

    pub(crate) async fn send(&self, req: RequestBuilder, what: &str) -> Result<Response> {
        let resp = req.send().await.map_err(|e| {
            let hint = if e.is_connect() { ": is `sedge up` running, and is --gateway right?" } else { "" };
            anyhow!("{what}: could not reach the gateway at {}{hint} ({e})", self.base)
        })?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let body = resp.text().await.unwrap_or_default();
            bail!(
                "{what}: 401 Unauthorized from the gateway: set SEDGE_PASSWORD, or --state to the folder holding \
                 secrets/basic-auth-password ({})",
                body.trim()
            );
        }
        Ok(resp)
    }

    pub(crate) async fn json<T: DeserializeOwned>(&self, req: RequestBuilder, what: &str) -> Result<T> {
        let resp = expect(self.send(req, what).await?, &[StatusCode::OK], what).await?;
        let bytes = resp.bytes().await.with_context(|| format!("{what}: reading the answer"))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: the gateway's answer is not the JSON expected"))
    }

    /// `GET /system/functions`.
    pub async fn list_functions(&self, namespace: Option<&str>) -> Result<Vec<FunctionStatus>> {
        let req = self.system(Method::GET, "/system/functions").query(&ns_query(namespace));
        self.json(req, "listing functions").await
    }

    /// `GET /system/function/{name}`.
    pub async fn get_function(&self, name: &str, namespace: Option<&str>) -> Result<FunctionStatus> {
        let what = format!("describing {name}");
        let mut query = ns_query(namespace);
        query.push(("usage", "1".to_string()));
        let req = self.system(Method::GET, &format!("/system/function/{name}")).query(&query);
        let resp = self.send(req, &what).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no function {name} found{}", in_namespace(namespace));
        }
        let resp = expect(resp, &[StatusCode::OK], &what).await?;
        resp.json().await.with_context(|| format!("{what}: the gateway's answer is not a FunctionStatus"))
    }

    /// Deploys as faas-cli does: `PUT /system/functions` (update), then `POST` only if the PUT answered 404.
    /// Returns the status of the call that succeeded.
    pub async fn deploy(&self, deployment: &FunctionDeployment) -> Result<StatusCode> {
        let what = format!("deploying {}", deployment.service);
        let ok = [StatusCode::OK, StatusCode::CREATED, StatusCode::ACCEPTED];
        let resp = self.send(self.system(Method::PUT, "/system/functions").json(deployment), &what).await?;
        let resp = if resp.status() == StatusCode::NOT_FOUND {
            self.send(self.system(Method::POST, "/system/functions").json(deployment), &what).await?
        } else {
            resp
        };
        Ok(expect(resp, &ok, &what).await?.status())
    }

    /// `DELETE /system/functions`.
    pub async fn remove(&self, name: &str, namespace: Option<&str>) -> Result<()> {
        let what = format!("removing {name}");
        let body = DeleteFunctionRequest { function_name: name.to_string(), namespace: namespace.map(str::to_string) };
        let resp = self.send(self.system(Method::DELETE, "/system/functions").json(&body), &what).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no function {name} found{}", in_namespace(namespace));
        }
        expect(resp, &[StatusCode::OK, StatusCode::ACCEPTED, StatusCode::NO_CONTENT], &what).await.map(drop)
    }

    /// `POST /system/scale-function/{name}`.
    pub async fn scale(&self, name: &str, replicas: u64, namespace: Option<&str>) -> Result<()> {
        let what = format!("scaling {name}");
        let body =
            ScaleServiceRequest { service_name: name.to_string(), replicas, namespace: namespace.map(str::to_string) };
        let req = self.system(Method::POST, &format!("/system/scale-function/{name}")).json(&body);
        let resp = self.send(req, &what).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no function {name} found{}", in_namespace(namespace));
        }
        expect(resp, &[StatusCode::OK, StatusCode::ACCEPTED], &what).await.map(drop)
    }

    /// `POST /system/secrets`; a 409 means the secret already exists.
    pub async fn create_secret(&self, secret: &Secret) -> Result<()> {
        let what = format!("creating secret {}", secret.name);
        let resp = self.send(self.system(Method::POST, "/system/secrets").json(secret), &what).await?;
        if resp.status() == StatusCode::CONFLICT {
            bail!("secret {} already exists: use `sedge secret update`", secret.name);
        }
        expect(resp, &[StatusCode::OK, StatusCode::CREATED, StatusCode::ACCEPTED], &what).await.map(drop)
    }

    /// `PUT /system/secrets`.
    pub async fn update_secret(&self, secret: &Secret) -> Result<()> {
        let what = format!("updating secret {}", secret.name);
        let resp = self.send(self.system(Method::PUT, "/system/secrets").json(secret), &what).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no secret {} found: create it with `sedge secret create`", secret.name);
        }
        expect(resp, &[StatusCode::OK, StatusCode::CREATED, StatusCode::ACCEPTED], &what).await.map(drop)
    }

    /// `GET /system/secrets` (names only).
    pub async fn list_secrets(&self, namespace: Option<&str>) -> Result<Vec<Secret>> {
        let req = self.system(Method::GET, "/system/secrets").query(&ns_query(namespace));
        self.json(req, "listing secrets").await
    }

    /// `DELETE /system/secrets`.
    pub async fn remove_secret(&self, name: &str, namespace: Option<&str>) -> Result<()> {
        let what = format!("removing secret {name}");
        let body = Secret { name: name.to_string(), namespace: namespace.map(str::to_string), ..Secret::default() };
        let resp = self.send(self.system(Method::DELETE, "/system/secrets").json(&body), &what).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no secret {name} found{}", in_namespace(namespace));
        }
        expect(resp, &[StatusCode::OK, StatusCode::ACCEPTED, StatusCode::NO_CONTENT], &what).await.map(drop)
    }

    /// `GET /system/info`.
    pub async fn info(&self) -> Result<GatewayInfo> {
        self.json(self.system(Method::GET, "/system/info"), "reading the gateway's version").await
    }

    /// `GET /system/logs`: calls `on_message` for each NDJSON line as it arrives, until the stream ends.
    pub async fn logs(&self, query: &LogsQuery, mut on_message: impl FnMut(LogMessage)) -> Result<()> {
        let what = format!("reading the logs of {}", query.name);
        let mut params = vec![("name", query.name.clone()), ("follow", query.follow.to_string())];
        params.extend(ns_query(query.namespace.as_deref()));
        params.extend(query.tail.map(|t| ("tail", t.to_string())));
        params.extend(query.since.clone().map(|s| ("since", s)));
        let resp = self.send(self.system(Method::GET, "/system/logs").query(&params), &what).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no function {} found{}", query.name, in_namespace(query.namespace.as_deref()));
        }
        let mut resp = expect(resp, &[StatusCode::OK], &what).await?;
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.with_context(|| format!("{what}: the stream broke"))? {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                parse_log_line(&line, &mut on_message)?;
            }
        }
        parse_log_line(&buf, &mut on_message)
    }

    /// Calls a function; no auth header, as faas-cli. Returns the response for the caller to stream.
    pub async fn invoke(&self, call: &Invocation) -> Result<Response> {
        let prefix = if call.asynchronous { "async-function" } else { "function" };
        let mut req = self.http.request(call.method.clone(), format!("{}/{prefix}/{}", self.base, call.address));
        for (k, v) in &call.headers {
            req = req.header(k, v);
        }
        let what = format!("invoking {}", call.address);
        let resp = req.body(call.body.clone()).send().await.map_err(|e| {
            anyhow!("{what}: could not reach the gateway at {}: is `sedge up` running? ({e})", self.base)
        })?;
        Ok(resp)
    }

    // ---- Asynchronous calls (`sedge calls`, issue #7): `/system/async-calls` ----

    /// `GET /system/async-calls`: the most recent calls first.
    pub async fn list_calls(
        &self,
        function: Option<&str>,
        status: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<CallView>> {
        let mut query = Vec::new();
        query.extend(function.map(|f| ("function", f.to_string())));
        query.extend(status.map(|s| ("status", s.to_string())));
        query.extend(limit.map(|l| ("limit", l.to_string())));
        self.json(self.system(Method::GET, "/system/async-calls").query(&query), "listing async calls").await
    }

    /// `GET /system/async-calls/{id}`.
    pub async fn get_call(&self, id: &str) -> Result<CallView> {
        let what = format!("reading async call {id}");
        let resp = self.send(self.system(Method::GET, &Self::call_path(id, "")), &what).await?;
        let resp = Self::known_call(resp, id).await?;
        let resp = expect(resp, &[StatusCode::OK], &what).await?;
        resp.json().await.with_context(|| format!("{what}: the gateway's answer is not an async call"))
    }

    /// `GET /system/async-calls/{id}/result`: the response to stream (body as stored, `X-Function-Status`).
    pub async fn call_result(&self, id: &str) -> Result<Response> {
        let what = format!("reading the result of async call {id}");
        let resp = self.send(self.system(Method::GET, &Self::call_path(id, "/result")), &what).await?;
        expect(Self::known_call(resp, id).await?, &[StatusCode::OK], &what).await
    }

    /// `DELETE /system/async-calls/{id}`: cancels a queued call.
    pub async fn cancel_call(&self, id: &str) -> Result<()> {
        let what = format!("cancelling async call {id}");
        let resp = self.send(self.system(Method::DELETE, &Self::call_path(id, "")), &what).await?;
        let resp = Self::known_call(resp, id).await?;
        expect(resp, &[StatusCode::OK, StatusCode::ACCEPTED, StatusCode::NO_CONTENT], &what).await.map(drop)
    }

    /// `/system/async-calls/{id}{rest}`, the id percent-encoded.
    fn call_path(id: &str, rest: &str) -> String {
        let mut path = String::from("/system/async-calls/");
        for b in id.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                path.push(b as char);
            } else {
                path.push_str(&format!("%{b:02X}"));
            }
        }
        path + rest
    }

    /// A 404 becomes "no async call ID".
    async fn known_call(resp: Response, id: &str) -> Result<Response> {
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no async call {id} found: `sedge calls list` shows the recent ones");
        }
        Ok(resp)
    }
}

fn parse_log_line(line: &[u8], on_message: &mut impl FnMut(LogMessage)) -> Result<()> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let message = serde_json::from_slice(line)
        .with_context(|| format!("a log line is not JSON: {}", String::from_utf8_lossy(line).trim()))?;
    on_message(message);
    Ok(())
}

fn ns_query(namespace: Option<&str>) -> Vec<(&'static str, String)> {
    namespace.filter(|ns| !ns.is_empty()).map(|ns| ("namespace", ns.to_string())).into_iter().collect()
}

fn in_namespace(namespace: Option<&str>) -> String {
    namespace.map(|ns| format!(" in namespace {ns}")).unwrap_or_default()
}

/// Passes the response on if its status is one of `ok`, else an error with the status and the body text.
pub(crate) async fn expect(resp: Response, ok: &[StatusCode], what: &str) -> Result<Response> {
    if ok.contains(&resp.status()) {
        return Ok(resp);
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    Err(status_error(what, status, &body))
}

/// The error for an unexpected status: `WHAT: the gateway answered STATUS: BODY`.
pub fn status_error(what: &str, status: StatusCode, body: &str) -> anyhow::Error {
    let body = body.trim();
    if body.is_empty() {
        anyhow!("{what}: the gateway answered {status}")
    } else {
        anyhow!("{what}: the gateway answered {status}: {body}")
    }
}

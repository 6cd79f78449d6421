//! `sedge calls`: asynchronous calls made with `sedge invoke --async` or `POST /async-function/NAME`, through
//! `/system/async-calls`.
//!
//! - `sedge calls list [--function F] [--status S] [--limit N] [-o json|yaml]`: the most recent first.
//! - `sedge calls show ID [-o json|yaml]`: status, attempts, the last result's status and duration.
//! - `sedge calls result ID`: the last result's body to stdout (exit 1 when the call failed).
//! - `sedge calls cancel ID`: cancels a queued call.

use anyhow::{Context, Result, bail};
use sedge_gateway::calls::status::CallView;
use tokio::io::AsyncWriteExt;

use super::GatewayArgs;
use crate::output::{self, Format};

/// `sedge calls` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CallsCommand {
    /// List async calls, the most recent first.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show one call: status, attempts, the result's status and duration.
    Show(ShowArgs),
    /// Write a call's last result body to stdout.
    Result(IdArgs),
    /// Cancel a queued call.
    Cancel(IdArgs),
}

/// Arguments of `sedge calls list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only calls of this function (NAME or NAME.NAMESPACE).
    #[arg(long)]
    pub function: Option<String>,
    /// Only calls in this state: queued, running, succeeded, failed or cancelled.
    #[arg(long)]
    pub status: Option<String>,
    /// At most this many (1 to 1000; the gateway's default is 100).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge calls show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// The call id (`X-Call-Id`), as `sedge invoke --async` prints it.
    pub id: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments naming one call.
#[derive(Debug, Clone, clap::Args)]
pub struct IdArgs {
    /// The call id (`X-Call-Id`), as `sedge invoke --async` prints it.
    pub id: String,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs a `sedge calls` subcommand.
pub async fn run(command: CallsCommand) -> Result<()> {
    match command {
        CallsCommand::List(args) => {
            let client = args.gateway.client(None)?;
            let calls = client.list_calls(args.function.as_deref(), args.status.as_deref(), args.limit).await?;
            match output::structured(args.format, &calls)? {
                Some(text) => print!("{text}"),
                None => print!("{}", table(&calls)),
            }
        }
        CallsCommand::Show(args) => {
            let call = args.gateway.client(None)?.get_call(&args.id).await?;
            match output::structured(args.format, &call)? {
                Some(text) => print!("{text}"),
                None => print!("{}", show(&call)),
            }
        }
        CallsCommand::Result(args) => {
            let mut resp = args.gateway.client(None)?.call_result(&args.id).await?;
            let status = header(&resp, "x-call-status");
            let code = header(&resp, "x-function-status");
            let mut stdout = tokio::io::stdout();
            while let Some(chunk) = resp.chunk().await.context("the result broke off")? {
                stdout.write_all(&chunk).await.context("could not write to stdout")?;
            }
            stdout.flush().await.context("could not write to stdout")?;
            if status == "failed" {
                bail!("async call {} failed: the function answered {code}", args.id);
            }
        }
        CallsCommand::Cancel(args) => {
            args.gateway.client(None)?.cancel_call(&args.id).await?;
            println!("Cancelled async call {}.", args.id);
        }
    }
    Ok(())
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// `sedge calls list` as a table.
fn table(calls: &[CallView]) -> String {
    let rows: Vec<Vec<String>> = calls
        .iter()
        .map(|c| {
            let (code, duration) = match &c.result {
                Some(r) => (r.status_code.to_string(), format!("{:.3}s", r.duration_seconds)),
                None => (String::new(), String::new()),
            };
            vec![
                c.id.clone(),
                c.function.clone(),
                c.status.to_string(),
                format!("{}/{}", c.attempts, c.max_attempts),
                code,
                duration,
                c.enqueued_at.clone(),
            ]
        })
        .collect();
    output::table(&["CALL ID", "FUNCTION", "STATUS", "ATTEMPTS", "CODE", "DURATION", "ENQUEUED"], &rows)
}

/// `sedge calls show` as one field per line.
fn show(c: &CallView) -> String {
    let mut fields = vec![
        ("Call ID", c.id.clone()),
        ("Function", c.function.clone()),
        ("Status", c.status.to_string()),
        ("Attempts", format!("{} of {}", c.attempts, c.max_attempts)),
    ];
    if let Some(r) = &c.result {
        fields.push(("Result", format!("{} in {:.6}s", r.status_code, r.duration_seconds)));
        if let Some(bytes) = r.body_bytes {
            fields.push(("Result body", format!("{bytes} bytes (sedge calls result {})", c.id)));
        }
    }
    let request = match &c.query {
        Some(q) => format!("{} {}?{q}", c.method, c.path),
        None => format!("{} {}", c.method, c.path),
    };
    fields.push(("Request", request));
    fields.push(("Enqueued", c.enqueued_at.clone()));
    let optional = [
        ("Next attempt", &c.next_attempt_at),
        ("Started", &c.started_at),
        ("Finished", &c.finished_at),
        ("Callback", &c.callback_url),
    ];
    fields.extend(optional.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))));
    // One width for every call, so that scripts can cut columns: "Next attempt:" is the longest label.
    fields.iter().map(|(k, v)| format!("{:<13} {v}\n", format!("{k}:"))).collect()
}

#[cfg(test)]
mod tests {
    use sedge_gateway::calls::status::ResultView;
    use sedge_store::CallStatus;

    use super::*;

    fn call() -> CallView {
        CallView {
            id: "abc".to_string(),
            function: "echo.openfaas-fn".to_string(),
            status: CallStatus::Succeeded,
            attempts: 2,
            max_attempts: 10,
            method: "POST".to_string(),
            path: "/".to_string(),
            query: Some("x=1".to_string()),
            callback_url: None,
            enqueued_at: "2026-01-01T00:00:00.000Z".to_string(),
            next_attempt_at: None,
            started_at: Some("2026-01-01T00:00:01.000Z".to_string()),
            finished_at: Some("2026-01-01T00:00:02.000Z".to_string()),
            result: Some(ResultView { status_code: 200, duration_seconds: 0.25, headers: None, body_bytes: Some(5) }),
        }
    }

    #[test]
    fn list_and_show_layouts() {
        let out = table(&[call()]);
        assert_eq!(
            out,
            "CALL ID   FUNCTION           STATUS      ATTEMPTS   CODE   DURATION   ENQUEUED\n\
             abc       echo.openfaas-fn   succeeded   2/10       200    0.250s     2026-01-01T00:00:00.000Z\n"
        );
        let out = show(&call());
        assert!(out.contains("Status:       succeeded\n"), "{out}");
        assert!(out.contains("Attempts:     2 of 10\n"), "{out}");
        assert!(out.contains("Result:       200 in 0.250000s\n"), "{out}");
        assert!(out.contains("Request:      POST /?x=1\n"), "{out}");
        assert!(!out.contains("Callback"), "absent fields are left out: {out}");
    }
}

//! `sedge invoke NAME`: sends stdin to a function and writes its answer to stdout, as `faas-cli invoke`.
//!
//! The call goes to `/function/NAME.NAMESPACE` (namespace `openfaas-fn` unless given) without credentials;
//! `--async` queues it through `/async-function/…` (with `--callback-url` for the result) and prints the call
//! id on stdout, for `sedge calls show ID`. A status of 400 or more prints the status and body to
//! stderr and exits 1.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode};
use sedge_core::DEFAULT_NAMESPACE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::GatewayArgs;
use crate::client::Invocation;

/// Arguments of `sedge invoke`.
#[derive(Debug, Clone, clap::Args)]
pub struct InvokeArgs {
    /// Function name, or NAME.NAMESPACE.
    pub name: String,
    /// Queue the call and return at once (202 Accepted).
    #[arg(long = "async")]
    pub asynchronous: bool,
    /// With --async: where the result is POSTed when the call is over (X-Callback-Url).
    #[arg(long, value_name = "URL", requires = "asynchronous")]
    pub callback_url: Option<String>,
    /// HTTP method.
    #[arg(long, short = 'm', default_value = "POST")]
    pub method: String,
    /// Extra request header, as 'Key: Value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Content-Type of the request body.
    #[arg(long, default_value = "text/plain")]
    pub content_type: String,
    /// Namespace of the function.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge invoke`.
pub async fn run(args: InvokeArgs) -> Result<()> {
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("{:?} is not an HTTP method", args.method))?;
    let mut headers = vec![("Content-Type".to_string(), args.content_type.clone())];
    for h in &args.headers {
        headers.push(parse_header(h)?);
    }
    if let Some(url) = &args.callback_url {
        headers.push(("X-Callback-Url".to_string(), url.clone()));
    }
    let address = if args.name.contains('.') {
        args.name.clone()
    } else {
        format!("{}.{}", args.name, args.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE))
    };

    if std::io::stdin().is_terminal() {
        eprintln!("Reading from STDIN - hit (Control + D) to stop.");
    }
    let mut body = Vec::new();
    tokio::io::stdin().read_to_end(&mut body).await.context("could not read the request body from stdin")?;

    let client = args.gateway.client(None)?;
    let call = Invocation { address, method, headers, body, asynchronous: args.asynchronous };
    let mut resp = client.invoke(&call).await?;
    let status = resp.status();
    if status.as_u16() >= 400 {
        let text = resp.text().await.unwrap_or_default();
        bail!("Server returned unexpected status code: {status} - {}", text.trim_end());
    }
    if args.asynchronous {
        if status != StatusCode::ACCEPTED {
            bail!("Server returned unexpected status code: {status} (expected 202 Accepted for --async)");
        }
        match resp.headers().get("X-Call-Id").and_then(|v| v.to_str().ok()) {
            Some(id) => {
                eprintln!("Function submitted asynchronously. Call ID: {id} (see `sedge calls show {id}`)");
                println!("{id}");
            }
            None => eprintln!("Function submitted asynchronously."),
        }
        return Ok(());
    }
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = resp.chunk().await.context("the function's answer broke off")? {
        stdout.write_all(&chunk).await.context("could not write to stdout")?;
    }
    stdout.flush().await.context("could not write to stdout")
}

/// `Key: Value` (or `Key=Value`, as faas-cli's `--header`) into a pair.
fn parse_header(text: &str) -> Result<(String, String)> {
    let (key, value) = text
        .split_once(':')
        .or_else(|| text.split_once('='))
        .with_context(|| format!("header {text:?} is not 'Key: Value'"))?;
    let key = key.trim();
    if key.is_empty() {
        bail!("header {text:?} has no name");
    }
    Ok((key.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_both_forms() {
        assert_eq!(parse_header("X-A: 1").unwrap(), ("X-A".to_string(), "1".to_string()));
        assert_eq!(parse_header("X-B=two").unwrap(), ("X-B".to_string(), "two".to_string()));
        assert_eq!(parse_header("X-Url: http://a:1").unwrap().1, "http://a:1");
        assert!(parse_header("nothing").is_err());
        assert!(parse_header(": v").is_err());
    }
}

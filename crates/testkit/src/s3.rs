//! A real S3-compatible server for tests: moto's server (PyPI `moto[server]`, pinned to [`MOTO_VERSION`]) in a
//! cached venv (see [`crate::python`]), on 127.0.0.1 and a port the OS picks.
//!
//! The server runs inside a small Python script that exits when its stdin closes, so it stops with the test
//! process even when [`Drop`] never runs (a server kept in a `static`, see [`MotoServer::shared`]); [`Drop`]
//! kills it at once. Each test makes its own bucket with [`MotoServer::create_bucket`], which returns the
//! `s3://` URL `sedge-artifacts` opens, dummy credentials included as URL options (no environment variables).
//! A missing `python3` or `venv` module fails the caller with a message saying so.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

/// The moto release the tests run against.
pub const MOTO_VERSION: &str = "5.2.5";

/// How long moto may take to import and bind.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Starts moto's threaded server on port 0, prints the port, and serves until stdin closes.
const SCRIPT: &str = r#"
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("listening", server.get_host_and_port()[1], flush=True)
sys.stdin.read()
"#;

/// A running moto server, killed on drop.
pub struct MotoServer {
    child: Child,
    port: u16,
    /// The last few KiB of the server's stderr, for error messages.
    stderr: Arc<Mutex<String>>,
}

impl std::fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotoServer").field("endpoint", &self.endpoint()).finish()
    }
}

impl MotoServer {
    /// Starts a server (creating the venv `moto` on first use) and waits until it listens.
    pub fn start() -> anyhow::Result<Self> {
        let pin = format!("moto[server]=={MOTO_VERSION}");
        let venv = crate::python::venv("moto", &[&pin])
            .context("the S3 tests run moto from PyPI and need python3 with its venv module")?;
        let python = venv.join("bin").join("python");
        let mut child = Command::new(&python)
            .args(["-u", "-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_pipe = child.stderr.take().context("moto's stderr")?;
        let tail = Arc::clone(&stderr);
        std::thread::spawn(move || keep_tail(stderr_pipe, &tail));
        let stdout = child.stdout.take().context("moto's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            for _ in lines {} // keep the pipe drained
        });
        let mut server = Self { child, port: 0, stderr };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(line)) => line,
            Ok(None) => bail!("moto exited before listening:\n{}", server.stderr_tail()),
            Err(_) => bail!("moto did not listen within {START_TIMEOUT:?}:\n{}", server.stderr_tail()),
        };
        let port = line.strip_prefix("listening ").and_then(|p| p.trim().parse().ok());
        server.port = port.with_context(|| format!("unexpected first line from moto: {line:?}"))?;
        TcpStream::connect_timeout(&([127, 0, 0, 1], server.port).into(), Duration::from_secs(5))
            .with_context(|| format!("moto said it listens on {}, but does not answer", server.port))?;
        Ok(server)
    }

    /// One server for the whole test process, started on first use and stopped when the process exits.
    pub fn shared() -> anyhow::Result<&'static MotoServer> {
        static SHARED: LazyLock<Result<MotoServer, String>> =
            LazyLock::new(|| MotoServer::start().map_err(|e| format!("{e:#}")));
        SHARED.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The server's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates the bucket `name` (lowercase letters, digits and `-`, 3 to 63 of them) and returns the URL that
    /// opens it: `s3://name?endpoint=…&region=us-east-1&access_key_id=test&secret_access_key=test`.
    pub fn create_bucket(&self, name: &str) -> anyhow::Result<String> {
        let valid = (3..=63).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ensure!(valid, "bucket name {name:?}: 3 to 63 lowercase letters, digits or `-`");
        let (status, response) = self.request("PUT", &format!("/{name}"))?;
        ensure!(status == 200, "creating bucket {name}: {response}");
        Ok(format!(
            "s3://{name}?endpoint={}&region=us-east-1&access_key_id=test&secret_access_key=test",
            self.endpoint()
        ))
    }

    /// How many multipart uploads of `bucket` are in progress (started, neither completed nor aborted).
    pub fn multipart_uploads_in_progress(&self, bucket: &str) -> anyhow::Result<usize> {
        let (status, response) = self.request("GET", &format!("/{bucket}?uploads"))?;
        ensure!(status == 200, "listing the multipart uploads of {bucket}: {response}");
        Ok(response.matches("<Upload>").count())
    }

    /// Sends a bodiless HTTP/1.1 request to the server; returns the status and the whole response.
    fn request(&self, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).context("connecting to moto")?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let host = format!("127.0.0.1:{}", self.port);
        write!(stream, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response).context("reading moto's answer")?;
        let status = response.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok());
        Ok((status.with_context(|| format!("no HTTP status in {response:?}"))?, response))
    }

    fn stderr_tail(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` to the end, keeping its last 8 KiB in `tail`.
fn keep_tail(mut pipe: impl std::io::Read, tail: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        let Ok(mut tail) = tail.lock() else { break };
        tail.push_str(&String::from_utf8_lossy(&buf[..n]));
        if tail.len() > 8192 {
            let cut = tail.len() - 8192;
            let cut = (cut..tail.len()).find(|&i| tail.is_char_boundary(i)).unwrap_or(tail.len());
            tail.drain(..cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_starts_makes_buckets_and_stops() {
        let server = MotoServer::start().expect("moto starts");
        let url = server.create_bucket("testkit-bucket").expect("bucket");
        let endpoint = server.endpoint();
        assert_eq!(
            url,
            format!(
                "s3://testkit-bucket?endpoint={endpoint}&region=us-east-1&access_key_id=test&secret_access_key=test"
            )
        );
        assert!(server.create_bucket("Bad_Name").is_err());
        assert_eq!(server.multipart_uploads_in_progress("testkit-bucket").expect("listing"), 0);
        let port = server.port;
        drop(server);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "moto still listens after drop");
    }
}

//! One HTTP/1.1 connection owned by one virtual user, without a pool: the closed model's hot path.
//!
//! A [`Conn`] connects on first use, keeps the connection alive between requests and reconnects after an
//! error, a timeout or a close. The connection is driven inside [`Conn::exchange`] itself (no task per
//! connection, no lock): while a request is out, the same future polls hyper's connection state machine and the
//! response. A request that the old connection could not take (the server closed it while the VU was idle, or
//! said `Connection: close`) is sent once more on a fresh connection, as hyper-util's pooled client does; a
//! request that fails on a fresh connection is an error. Requests are in origin form with a `Host` header (the
//! caller's [`Conn::host`]), as an HTTP/1.1 client sends them.
//!
//! The per-request timeout costs no timer per request: each `Conn` keeps one alarm, never later than the
//! current request's deadline, and re-arms it only when it goes off before that deadline (about once per
//! timeout length), so a fast request only polls it.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Uri, response};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The longest a TCP connect may take (within the request's own timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type Driver = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// A keep-alive connection to one `host:port`, opened when needed.
pub(super) struct Conn {
    addr: String,
    timeout: Duration,
    live: Option<Live>,
    /// Goes off no later than the deadline of the request in flight (see the module docs).
    alarm: Pin<Box<Sleep>>,
}

/// An open connection: the handle that sends, and the state machine that must be polled for anything to move.
struct Live {
    sender: SendRequest<Full<Bytes>>,
    driver: Pin<Box<Driver>>,
    /// The driver finished (the connection is closed): it must not be polled again.
    closed: bool,
}

/// Why a request on an open connection failed.
enum Failed {
    /// The connection could not take it: it was never written, and here it is back.
    NotSent(Box<Request<Full<Bytes>>>, String),
    /// It was (or may have been) written.
    Other(String),
}

impl Conn {
    /// A connection to `url`'s host and port (80 by default), with `timeout` for each whole exchange. Must be
    /// called, and used, on one runtime with timers enabled.
    pub(super) fn new(url: &Uri, timeout: Duration) -> Self {
        let addr = format!("{}:{}", url.host().unwrap_or_default(), url.port_u16().unwrap_or(80));
        let alarm = Box::pin(tokio::time::sleep_until(deadline(timeout)));
        Self { addr, timeout, live: None, alarm }
    }

    /// The `Host` header for `url`, as hyper-util's client writes it: the port only when not 80.
    pub(super) fn host(url: &Uri) -> Option<HeaderValue> {
        let host = url.host()?;
        let value = match url.port_u16() {
            Some(port) if port != 80 => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        HeaderValue::from_str(&value).ok()
    }

    /// Sends `request` (origin form, `Host` set) and reads the whole response, within the timeout; connects
    /// first when needed. On any error the connection is dropped, so the next call starts a fresh one.
    pub(super) async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Result<(response::Parts, Bytes), String> {
        let deadline = deadline(self.timeout);
        if self.alarm.deadline() > deadline {
            self.alarm.as_mut().reset(deadline);
        }
        let result = {
            let call = try_exchange(&mut self.live, &self.addr, request);
            tokio::pin!(call);
            loop {
                tokio::select! {
                    biased;
                    result = &mut call => break result,
                    () = self.alarm.as_mut() => {
                        if Instant::now() >= deadline {
                            break Err(format!("timeout after {:?}", self.timeout));
                        }
                        self.alarm.as_mut().reset(deadline);
                    }
                }
            }
        };
        if result.is_err() || self.live.as_ref().is_some_and(|l| l.closed) {
            self.live = None;
        }
        result
    }
}

/// `timeout` from now (or about 30 years from now, where that overflows).
fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// [`Conn::exchange`] without the timeout.
async fn try_exchange(
    live: &mut Option<Live>,
    addr: &str,
    mut request: Request<Full<Bytes>>,
) -> Result<(response::Parts, Bytes), String> {
    let reused = live.is_some();
    let open = match live {
        Some(open) => open,
        None => live.insert(connect(addr).await?),
    };
    match open.send(request).await {
        Ok(response) => return Ok(response),
        Err(Failed::NotSent(back, _)) if reused => request = *back,
        Err(Failed::NotSent(_, e) | Failed::Other(e)) => return Err(e),
    }
    // The kept-alive connection had closed before the request went out: once more on a new one.
    let open = live.insert(connect(addr).await?);
    open.send(request).await.map_err(|(Failed::NotSent(_, e) | Failed::Other(e))| e)
}

/// A new connection to `addr` (`TCP_NODELAY` on), bounded by [`CONNECT_TIMEOUT`].
async fn connect(addr: &str) -> Result<Live, String> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(format!("connect {addr}: {e}")),
        Err(_) => return Err(format!("connect {addr}: no answer within {CONNECT_TIMEOUT:?}")),
    };
    let _ = stream.set_nodelay(true);
    let (sender, driver) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("connect {addr}: {}", sedge_core::error::chain(&e)))?;
    Ok(Live { sender, driver: Box::pin(driver), closed: false })
}

impl Live {
    /// One request and its whole response, polling the connection alongside.
    async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<(response::Parts, Bytes), Failed> {
        let Live { sender, driver, closed } = self;
        let call = async {
            if let Err(e) = sender.ready().await {
                return Err(Failed::NotSent(Box::new(request), sedge_core::error::chain(&e)));
            }
            let response = sender.try_send_request(request).await.map_err(|mut e| match e.take_message() {
                Some(request) => Failed::NotSent(Box::new(request), sedge_core::error::chain(e.error())),
                None => Failed::Other(sedge_core::error::chain(e.error())),
            })?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| Failed::Other(sedge_core::error::chain(&e)))?.to_bytes();
            Ok((parts, body))
        };
        tokio::pin!(call);
        if *closed {
            return call.await;
        }
        tokio::select! {
            biased;
            result = &mut call => result,
            _ = driver.as_mut() => {
                // Closed (by either side, or on an error): whatever was pending now resolves at once.
                *closed = true;
                call.await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// How the stub server treats a connection's requests.
    #[derive(Clone, Copy)]
    enum Reply {
        /// Answer each at once and keep the connection.
        KeepAlive,
        /// Answer with `Connection: close`, then close.
        Close,
        /// Never answer the first connection; answer the others at once.
        StallFirst,
        /// Answer the first request at once, never the second.
        StallSecond,
    }

    /// An HTTP/1.1 stub on loopback; returns its URL and the number of connections it accepted.
    async fn server(reply: Reply) -> (Uri, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/f?x=1", listener.local_addr().unwrap()).parse().unwrap();
        let accepted = Arc::new(AtomicU32::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let nth = count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut buf, mut chunk, mut requests) = (Vec::new(), [0u8; 4096], 0);
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                            buf.drain(..end + 4);
                            requests += 1;
                            assert!(head.starts_with("GET /f?x=1 HTTP/1.1\r\n"), "origin form: {head}");
                            assert!(head.to_lowercase().contains("\r\nhost: 127.0.0.1:"), "a Host header: {head}");
                            let (reply, close): (&[u8], bool) = match reply {
                                Reply::StallFirst if nth == 0 => std::future::pending().await,
                                Reply::StallSecond if requests == 2 => std::future::pending().await,
                                Reply::Close => {
                                    (b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok", true)
                                }
                                _ => (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false),
                            };
                            if socket.write_all(reply).await.is_err() || close {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn get(url: &Uri) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = Uri::from(url.path_and_query().unwrap().clone());
        request.headers_mut().insert(http::header::HOST, Conn::host(url).unwrap());
        request
    }

    async fn exchanges(conn: &mut Conn, url: &Uri, n: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(conn.exchange(get(url)).await.map(|(_, body)| body.to_vec()));
        }
        out
    }

    #[tokio::test]
    async fn keeps_one_connection_alive() {
        let (url, accepted) = server(Reply::KeepAlive).await;
        let mut conn = Conn::new(&url, Duration::from_secs(10));
        assert!(exchanges(&mut conn, &url, 20).await.iter().all(|r| r.as_deref() == Ok(b"ok".as_slice())));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reconnects_after_the_server_closes() {
        let (url, accepted) = server(Reply::Close).await;
        let mut conn = Conn::new(&url, Duration::from_secs(10));
        let results = exchanges(&mut conn, &url, 5).await;
        assert!(results.iter().all(|r| r.as_deref() == Ok(b"ok".as_slice())), "{results:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_timeout_is_an_error_and_the_next_request_gets_a_new_connection() {
        let (url, accepted) = server(Reply::StallFirst).await;
        let mut conn = Conn::new(&url, Duration::from_millis(200));
        let results = exchanges(&mut conn, &url, 3).await;
        assert_eq!(results[0], Err("timeout after 200ms".to_owned()));
        assert!(results[1..].iter().all(|r| r.as_deref() == Ok(b"ok".as_slice())), "{results:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_request_is_not_timed_out_by_the_deadline_of_the_one_before() {
        let (url, _) = server(Reply::StallSecond).await;
        let mut conn = Conn::new(&url, Duration::from_millis(300));
        assert_eq!(conn.exchange(get(&url)).await.map(|(_, body)| body), Ok(Bytes::from_static(b"ok")));
        // The alarm is still set for the first request's deadline, 100 ms into the second one.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = Instant::now();
        assert_eq!(conn.exchange(get(&url)).await.unwrap_err(), "timeout after 300ms");
        assert!(sent.elapsed() >= Duration::from_millis(300), "timed out after {:?}", sent.elapsed());
    }

    #[tokio::test]
    async fn a_refused_connect_is_an_error_naming_the_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: Uri = format!("http://{}/", listener.local_addr().unwrap()).parse().unwrap();
        drop(listener);
        let mut conn = Conn::new(&url, Duration::from_secs(10));
        let error = conn.exchange(get(&url)).await.unwrap_err();
        assert!(error.starts_with(&format!("connect {}:", url.authority().unwrap())), "{error}");
    }
}

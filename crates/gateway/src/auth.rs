//! HTTP basic auth for `/system/*`, as faas-provider does it: user and password from the state directory's
//! secrets, 401 with `WWW-Authenticate: Basic realm="Restricted"` otherwise.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use http::header;

use crate::error::ApiError;

/// Accepted credentials.
#[derive(Clone)]
pub struct Credentials {
    /// User name (`admin`).
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

impl Credentials {
    /// Whether an `Authorization` header value carries these credentials.
    pub fn accepts(&self, authorization: &[u8]) -> bool {
        let Some(encoded) = authorization.strip_prefix(b"Basic ") else { return false };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii()) else {
            return false;
        };
        let expected = format!("{}:{}", self.user, self.password);
        constant_time_eq(&decoded, expected.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware that rejects requests without valid credentials.
pub async fn require(
    State(credentials): State<Credentials>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let ok = request.headers().get(header::AUTHORIZATION).is_some_and(|v| credentials.accepts(v.as_bytes()));
    if ok { Ok(next.run(request).await) } else { Err(ApiError::Unauthorized) }
}

/// Who may use the registry's routes: the admin, or a process function with the platform's API token.
#[derive(Clone, Debug)]
pub struct Access {
    /// The admin's basic-auth credentials.
    pub credentials: Credentials,
    /// The bearer token given to functions; `None` accepts the admin only.
    pub token: Option<String>,
}

impl Access {
    /// Whether an `Authorization` header value is the admin's or carries the token.
    pub fn accepts(&self, authorization: &[u8]) -> bool {
        if let (Some(token), Some(given)) = (&self.token, authorization.strip_prefix(b"Bearer ")) {
            return constant_time_eq(given.trim_ascii(), token.as_bytes());
        }
        self.credentials.accepts(authorization)
    }
}

/// Middleware that rejects requests without the admin's credentials or the functions' token.
pub async fn require_or_token(
    State(access): State<Access>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let ok = request.headers().get(header::AUTHORIZATION).is_some_and(|v| access.accepts(v.as_bytes()));
    if ok { Ok(next.run(request).await) } else { Err(ApiError::Unauthorized) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_basic_credentials() {
        let c = Credentials { user: "admin".into(), password: "pw".into() };
        let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:pw"));
        assert!(c.accepts(good.as_bytes()));
        let bad = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:px"));
        assert!(!c.accepts(bad.as_bytes()));
        assert!(!c.accepts(b"Bearer "));
        assert!(!c.accepts(b"Basic !!!"));
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn the_token_opens_only_where_it_is_accepted() {
        let credentials = Credentials { user: "admin".into(), password: "pw".into() };
        let admin = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:pw"));
        let access = Access { credentials: credentials.clone(), token: Some("t0k".into()) };
        assert!(access.accepts(b"Bearer t0k"));
        assert!(access.accepts(admin.as_bytes()));
        assert!(!access.accepts(b"Bearer t0x"));
        assert!(!access.accepts(b"Bearer "));
        assert!(!Access { credentials, token: None }.accepts(b"Bearer t0k"));
    }
}

//! Store URLs into typed locations, with no I/O: a local folder (`file:///abs/path`, a plain path, or the
//! default `<state>/artifacts`), an S3 bucket (`s3://bucket?endpoint=…&region=…&prefix=…`) or a GCS bucket
//! (`gs://bucket?prefix=…`).
//!
//! Query values are percent-decoded (`%2B` for `+`; a literal `+` stays a `+`). Unknown options, a repeated
//! option and a path after the bucket are refused with a message saying what to write instead.
//!
//! S3 options: `endpoint` (`http://` or `https://`; without it, AWS), `region`, `prefix` (a folder inside the
//! bucket), and, for tests and local servers, `access_key_id`, `secret_access_key` and `session_token`
//! (otherwise the `AWS_*` environment variables are used). GCS options: `prefix`.

use std::path::{Path, PathBuf};

use crate::ArtifactError;

/// Where a store URL points.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local folder (absolute).
    Local(PathBuf),
    /// An S3 bucket.
    S3(S3Config),
    /// A Google Cloud Storage bucket.
    Gcs(GcsConfig),
}

/// An `s3://` URL's settings.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct S3Config {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub prefix: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .finish()
    }
}

/// A `gs://` URL's settings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GcsConfig {
    pub bucket: String,
    pub prefix: Option<String>,
}

const S3_OPTIONS: &[&str] = &["endpoint", "region", "prefix", "access_key_id", "secret_access_key", "session_token"];
const GCS_OPTIONS: &[&str] = &["prefix"];

/// Parses `url`; `None` is `<state_dir>/artifacts`.
pub(crate) fn parse(url: Option<&str>, state_dir: &Path) -> Result<Location, ArtifactError> {
    let Some(url) = url else { return Ok(Location::Local(absolute(&state_dir.join("artifacts"))?)) };
    let invalid = |why: String| ArtifactError::InvalidUrl(format!("{url:?}: {why}"));
    if url.trim().is_empty() {
        return Err(invalid("empty (leave it out for the local folder under the state directory)".into()));
    }
    let Some((scheme, rest)) = split_scheme(url) else { return Ok(Location::Local(absolute(Path::new(url))?)) };
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(invalid(format!("expected `{scheme}://…`")));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(invalid("a file URL needs an absolute path: file:///abs/path".into()));
            }
            if path.contains(['?', '#']) {
                return Err(invalid("a file URL takes no query or fragment".into()));
            }
            Ok(Location::Local(PathBuf::from(decode(path).map_err(invalid)?)))
        }
        "s3" => {
            let (bucket, options) = bucket_and_options(rest, S3_OPTIONS).map_err(invalid)?;
            let mut config = S3Config { bucket, ..S3Config::default() };
            for (key, value) in options {
                let slot = match key.as_str() {
                    "endpoint" => &mut config.endpoint,
                    "region" => &mut config.region,
                    "prefix" => &mut config.prefix,
                    "access_key_id" => &mut config.access_key_id,
                    "secret_access_key" => &mut config.secret_access_key,
                    _ => &mut config.session_token,
                };
                *slot = Some(value);
            }
            if let Some(endpoint) = &config.endpoint
                && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            {
                return Err(invalid(format!("endpoint {endpoint:?} must start with http:// or https://")));
            }
            config.prefix = clean_prefix(config.prefix).map_err(invalid)?;
            Ok(Location::S3(config))
        }
        "gs" => {
            let (bucket, options) = bucket_and_options(rest, GCS_OPTIONS).map_err(invalid)?;
            let prefix = options.into_iter().next().map(|(_, value)| value);
            Ok(Location::Gcs(GcsConfig { bucket, prefix: clean_prefix(prefix).map_err(invalid)? }))
        }
        other => Err(invalid(format!("unsupported scheme `{other}`: use a path, file://, s3:// or gs://"))),
    }
}

/// `("s3", "//bucket…")` when `url` starts with a scheme (a letter, then letters, digits, `+`, `-`, `.`, then
/// `:`), `None` for a plain path.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_is_letter && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some((scheme, rest))
}

/// Splits `bucket[/][?query]` into the bucket and its decoded options, each one of `known`, at most once.
fn bucket_and_options(rest: &str, known: &[&str]) -> Result<(String, Vec<(String, String)>), String> {
    if rest.contains('#') {
        return Err("a store URL takes no fragment".into());
    }
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, path) = authority.split_once('/').unwrap_or((authority, ""));
    if bucket.is_empty() {
        return Err("no bucket name".into());
    }
    if !bucket.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(format!("bucket name {bucket:?} has characters other than letters, digits, `.`, `-`, `_`"));
    }
    if !path.is_empty() {
        return Err(format!("a path after the bucket is not supported: write `?prefix={path}`"));
    }
    let mut options: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("option {pair:?} has no `=value`"))?;
        let (key, value) = (decode(key)?, decode(value)?);
        if !known.contains(&key.as_str()) {
            return Err(format!("unknown option {key:?} (known: {})", known.join(", ")));
        }
        if options.iter().any(|(k, _)| *k == key) {
            return Err(format!("option {key:?} given twice"));
        }
        if value.is_empty() {
            return Err(format!("option {key:?} is empty"));
        }
        options.push((key, value));
    }
    Ok((bucket.to_string(), options))
}

/// A folder inside a bucket, without leading or trailing `/`; checked like a key.
fn clean_prefix(prefix: Option<String>) -> Result<Option<String>, String> {
    let Some(prefix) = prefix else { return Ok(None) };
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    crate::check_key(trimmed).map_err(|e| format!("prefix: {e}"))?;
    Ok(Some(trimmed.to_string()))
}

/// Percent-decodes `s` (`%XX`), which must then be UTF-8.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(byte.ok_or_else(|| format!("bad percent escape in {s:?}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// `path` made absolute against the current directory (no file system access).
fn absolute(path: &Path) -> Result<PathBuf, ArtifactError> {
    std::path::absolute(path).map_err(|e| ArtifactError::InvalidUrl(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(url: &str) -> S3Config {
        match parse(Some(url), Path::new("/state")) {
            Ok(Location::S3(config)) => config,
            other => panic!("{url}: {other:?}"),
        }
    }

    fn error(url: &str) -> String {
        parse(Some(url), Path::new("/state")).expect_err(url).to_string()
    }

    #[test]
    fn no_url_is_the_artifacts_folder_under_the_state_directory() {
        assert_eq!(parse(None, Path::new("/var/sedge")).unwrap(), Location::Local("/var/sedge/artifacts".into()));
    }

    #[test]
    fn file_urls_and_plain_paths_are_local_folders() {
        let local = |url| parse(Some(url), Path::new("/state")).unwrap();
        assert_eq!(local("file:///srv/models"), Location::Local("/srv/models".into()));
        assert_eq!(local("file://localhost/srv/my%20models"), Location::Local("/srv/my models".into()));
        assert_eq!(local("/srv/models"), Location::Local("/srv/models".into()));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(local("rel/dir"), Location::Local(cwd.join("rel/dir")));
    }

    #[test]
    fn s3_urls_carry_endpoint_region_prefix_and_test_credentials() {
        let url = "s3://models?endpoint=http://127.0.0.1:9000&region=us-east-1&prefix=/edge/a/\
                   &access_key_id=test&secret_access_key=a%2Bb/c+d";
        let config = s3(url);
        assert_eq!(config.bucket, "models");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(config.region.as_deref(), Some("us-east-1"));
        assert_eq!(config.prefix.as_deref(), Some("edge/a"));
        assert_eq!(config.access_key_id.as_deref(), Some("test"));
        assert_eq!(config.secret_access_key.as_deref(), Some("a+b/c+d"));
        assert_eq!(config.session_token, None);
        assert!(!format!("{config:?}").contains("a+b/c+d"), "the secret is redacted");
        assert_eq!(s3("S3://b/"), S3Config { bucket: "b".into(), ..S3Config::default() });
    }

    #[test]
    fn gs_urls_take_a_bucket_and_a_prefix() {
        let location = parse(Some("gs://weights?prefix=prod"), Path::new("/state")).unwrap();
        assert_eq!(location, Location::Gcs(GcsConfig { bucket: "weights".into(), prefix: Some("prod".into()) }));
        assert!(error("gs://weights?endpoint=http://x").contains("unknown option \"endpoint\" (known: prefix)"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("", "empty"),
            ("ftp://host/x", "unsupported scheme `ftp`"),
            ("s3:bucket", "expected `s3://…`"),
            ("s3://", "no bucket name"),
            ("s3://?endpoint=http://x", "no bucket name"),
            ("s3://b/models", "write `?prefix=models`"),
            ("s3://b?endpoint=localhost:9000", "must start with http:// or https://"),
            ("s3://b?colour=blue", "unknown option \"colour\""),
            ("s3://b?region=a&region=b", "given twice"),
            ("s3://b?region", "has no `=value`"),
            ("s3://b?region=", "is empty"),
            ("s3://b?prefix=a/../b", "prefix: invalid artifact key"),
            ("s3://b?region=%zz", "bad percent escape"),
            ("s3://b#frag", "no fragment"),
            ("s3://my bucket", "bucket name"),
            ("file://host/x", "absolute path"),
            ("file:///x?y", "no query"),
        ] {
            let message = error(url);
            assert!(message.starts_with(&format!("invalid artifact store URL: {url:?}: ")), "{message}");
            assert!(message.contains(says), "{url:?}: {message}");
        }
    }
}

//! An error in user input that names the field at fault, e.g.
//! `functions.mltest.limits.memory: "12x" is not a quantity`.

use std::fmt;

/// A validation or parse error in a spec, request body or name. The `path` is the dotted location of the
/// offending field (empty when the input as a whole is at fault); the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// Dotted path of the field, e.g. `functions.mltest.limits.memory`.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl SpecError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    /// The same error, one level deeper: `prefix.path`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = match (prefix.is_empty(), self.path.is_empty()) {
            (true, _) => self.path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{}", self.path),
        };
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Parses JSON into `T`, naming the field at fault when it fails (`limits.memory: invalid type: …`).
pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, SpecError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        SpecError::new(path, e.into_inner().to_string())
    })
}

/// An error followed by each of its causes, `: `-separated (hyper's top-level message alone can be as short as
/// "connection closed").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("request failed")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
        assert_eq!(chain(&e), "request failed: connection refused");
    }

    #[test]
    fn display_joins_path_and_message() {
        let e = SpecError::new("memory", "\"12x\" is not a quantity").within("limits").within("functions.a");
        assert_eq!(e.to_string(), "functions.a.limits.memory: \"12x\" is not a quantity");
        assert_eq!(SpecError::new("", "empty body").to_string(), "empty body");
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            inner: Inner,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            count: u32,
        }
        let e = from_json::<Outer>(br#"{"inner":{"count":"x"}}"#).unwrap_err();
        assert_eq!(e.path, "inner.count");
        assert!(e.message.contains("expected u32"), "{e}");
    }
}

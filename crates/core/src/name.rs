//! Names of functions, namespaces and secrets, and `name.namespace` addressing.
//!
//! Function and namespace names are DNS-1123 labels (as Kubernetes and OpenFaaS require): 1–63 characters of
//! `a-z`, `0-9` and `-`, starting and ending with a letter or digit. That rule also keeps every name safe to use
//! as a path component (no `/`, `..` or leading dot).

use std::fmt;

use crate::SpecError;

/// The namespace a function lands in when none is given, as in faasd and faas-cli (`invoke` appends it).
pub const DEFAULT_NAMESPACE: &str = "openfaas-fn";

/// Checks that `value` is a DNS-1123 label; `what` names the thing in the error ("function name").
pub fn validate_label(value: &str, what: &str) -> Result<(), SpecError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !value.is_empty()
        && value.len() <= 63
        && value.chars().all(ok_char)
        && value.starts_with(alnum)
        && value.ends_with(alnum);
    if valid {
        Ok(())
    } else {
        Err(SpecError::new(
            "",
            format!(
                "{what} {value:?} is not valid: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"
            ),
        ))
    }
}

/// Checks a secret name: a DNS-1123 subdomain (labels joined by `.`, at most 253 characters), so that it is a
/// safe file name under a replica's secrets folder.
pub fn validate_secret_name(value: &str) -> Result<(), SpecError> {
    let valid = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|part| validate_label(part, "secret name").is_ok());
    if valid {
        Ok(())
    } else {
        Err(SpecError::new(
            "name",
            format!(
                "secret name {value:?} is not valid: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
            ),
        ))
    }
}

/// A function's full address: name and namespace, both validated labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct QualifiedName {
    /// The function's name.
    pub name: String,
    /// The function's namespace.
    pub namespace: String,
}

impl QualifiedName {
    /// Builds and validates a name; an empty or absent namespace means [`DEFAULT_NAMESPACE`].
    pub fn new(name: &str, namespace: Option<&str>) -> Result<Self, SpecError> {
        let namespace = namespace.filter(|ns| !ns.is_empty()).unwrap_or(DEFAULT_NAMESPACE);
        validate_label(name, "function name")?;
        validate_label(namespace, "namespace")?;
        Ok(Self { name: name.to_string(), namespace: namespace.to_string() })
    }

    /// Parses `name` or `name.namespace` (split at the last dot, as the OpenFaaS gateway does). An explicit
    /// `?namespace=` (`query_namespace`) applies only when the address carries none.
    pub fn parse(address: &str, query_namespace: Option<&str>) -> Result<Self, SpecError> {
        match address.rsplit_once('.') {
            Some((name, namespace)) => Self::new(name, Some(namespace)),
            None => Self::new(address, query_namespace),
        }
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_name_and_namespace() {
        let q = QualifiedName::parse("figlet.openfaas-fn", None).unwrap();
        assert_eq!((q.name.as_str(), q.namespace.as_str()), ("figlet", "openfaas-fn"));
        let q = QualifiedName::parse("figlet", Some("dev")).unwrap();
        assert_eq!(q.namespace, "dev");
        let q = QualifiedName::parse("figlet", None).unwrap();
        assert_eq!(q.namespace, DEFAULT_NAMESPACE);
        assert_eq!(q.to_string(), "figlet.openfaas-fn");
    }

    #[test]
    fn rejects_traversal_and_bad_labels() {
        for bad in ["..", "../etc", "a/b", "", "-a", "a-", "A", "a_b", ".hidden", "a..b", &"x".repeat(64)] {
            assert!(QualifiedName::parse(bad, None).is_err(), "{bad:?} should be rejected");
        }
        assert!(validate_secret_name("db.password").is_ok());
        for bad in ["../x", ".x", "x.", "a/b", "A"] {
            assert!(validate_secret_name(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn valid_labels_round_trip(name in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", ns in "[a-z]([a-z0-9-]{0,10}[a-z0-9])?") {
            let q = QualifiedName::parse(&format!("{name}.{ns}"), None).unwrap();
            prop_assert_eq!(QualifiedName::parse(&q.to_string(), None).unwrap(), q);
        }

        #[test]
        fn never_accepts_slashes(s in ".*/.*") {
            prop_assert!(QualifiedName::parse(&s, None).is_err());
        }
    }
}

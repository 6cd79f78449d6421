//! A function bundle: what `sedge build` makes from a handler folder and a template, found by image name.
//!
//! On disk a bundle is `<state>/bundles/<image key>/` holding `bundle.json` ([`BundleManifest`]), the
//! template's files and the handler under `function/`, and a `venv/` when the handler has requirements. The
//! runtime starts the manifest's `fprocess` with the bundle folder as working directory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// File name of the manifest inside a bundle folder.
pub const MANIFEST_FILE: &str = "bundle.json";

/// `bundle.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleManifest {
    /// The image name the bundle was built for.
    pub image: String,
    /// The template, e.g. `python3` or `python3-http`.
    pub lang: String,
    /// The command to run, relative paths resolved against the bundle folder.
    pub fprocess: String,
    /// `fork` or `http`.
    pub mode: String,
    /// Http mode: path that answers 2xx once the server is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_path: Option<String>,
    /// Environment variables the template sets (the function's own win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// The folder name for an image: every character outside `[A-Za-z0-9._-]` becomes `_`, and a leading dot too,
/// so that no image name can escape the bundles folder.
pub fn image_key(image: &str) -> String {
    let key: String =
        image.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    match key.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None if key.is_empty() => "_".to_string(),
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_keys_are_safe_folder_names() {
        assert_eq!(image_key("ghcr.io/me/fn:latest"), "ghcr.io_me_fn_latest");
        assert_eq!(image_key("../../etc"), "_._.._etc");
        assert_eq!(image_key(".."), "_.");
        assert_eq!(image_key(""), "_");
        assert!(!image_key("a/../../b").contains('/'));
    }
}

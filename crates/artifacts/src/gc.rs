//! Garbage collection after a crash: [`garbage`] decides (pure), [`collect`] lists and deletes (thin).
//!
//! An upload interrupted between `put_temp` and `commit` leaves an object under `tmp/`; a version whose commit
//! reached the store but not the registry, or a version removed from the registry, leaves an object under
//! `models/` that no registry row names. Objects under other prefixes are never touched.

use std::collections::HashSet;

use crate::{ArtifactError, ArtifactStore, MODELS_PREFIX, ObjectInfo, TMP_PREFIX};

/// The keys to remove, sorted: every object under `tmp/`, and every object under `models/` not in `keep`.
pub fn garbage(objects: &[ObjectInfo], keep: &HashSet<String>) -> Vec<String> {
    let mut doomed: Vec<String> = objects
        .iter()
        .map(|o| &o.key)
        .filter(|key| key.starts_with(TMP_PREFIX) || (key.starts_with(MODELS_PREFIX) && !keep.contains(*key)))
        .cloned()
        .collect();
    doomed.sort();
    doomed.dedup();
    doomed
}

/// Lists `tmp/` and `models/`, removes the [`garbage`], returns the removed keys (those already gone are left
/// out).
pub(crate) async fn collect(store: &dyn ArtifactStore, keep: &HashSet<String>) -> Result<Vec<String>, ArtifactError> {
    let mut objects = store.list(TMP_PREFIX).await?;
    objects.extend(store.list(MODELS_PREFIX).await?);
    let mut removed = Vec::new();
    for key in garbage(&objects, keep) {
        if store.delete(&key).await? {
            removed.push(key);
        }
    }
    if !removed.is_empty() {
        tracing::info!(store = store.describe(), removed = removed.len(), "removed unreferenced artifacts");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> Vec<ObjectInfo> {
        keys.iter().map(|k| ObjectInfo { key: k.to_string(), size_bytes: 1, last_modified_ms: 0 }).collect()
    }

    fn keep(keys: &[&str]) -> HashSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn temporaries_always_go_and_unreferenced_models_go() {
        let all = objects(&["models/a/1.onnx", "tmp/x", "models/a/2.onnx", "tmp/y", "models/b/3.onnx"]);
        let doomed = garbage(&all, &keep(&["models/a/1.onnx", "models/b/3.onnx", "tmp/x"]));
        assert_eq!(doomed, ["models/a/2.onnx", "tmp/x", "tmp/y"]);
    }

    #[test]
    fn other_prefixes_are_never_touched() {
        let all = objects(&["datasets/d.csv", "modelsx/a", "tmpfile", "README"]);
        assert_eq!(garbage(&all, &keep(&[])), Vec::<String>::new());
    }

    #[test]
    fn nothing_to_do_when_everything_is_referenced() {
        let all = objects(&["models/a/1.onnx", "models/a/1.onnx"]);
        assert!(garbage(&all, &keep(&["models/a/1.onnx"])).is_empty());
        assert!(garbage(&[], &keep(&[])).is_empty());
        assert_eq!(garbage(&all, &keep(&[])), ["models/a/1.onnx"], "listed twice, removed once");
    }
}

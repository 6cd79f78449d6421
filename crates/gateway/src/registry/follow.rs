//! Model functions follow the registry: after a push, a promotion or a deletion of `name`, every deployed model
//! function whose source is `registry:name` (latest) or `registry:name@stage` is redeployed through the normal
//! deploy path, which fetches what the reference names now and hot-swaps it in (no call dropped). A pinned
//! `registry:name:3` never moves. A redeploy that fails (say, no version holds the stage any more) leaves the
//! function serving what it served, and is logged.

use sedge_core::FunctionSpec;
use sedge_core::model::ModelSource;
use sedge_store::{ModelRef, ModelVersion};

use crate::Gateway;

/// Whether a model function with `source` moves when `name` changes.
pub fn follows(source: &ModelSource, name: &str) -> bool {
    match source {
        ModelSource::Registry(reference) => {
            ModelRef::parse(reference).is_ok_and(|r| r.name == name && !matches!(r.version, ModelVersion::Number(_)))
        }
        ModelSource::File(_) => false,
    }
}

/// Redeploys the model functions following `name`; failures are logged, never returned.
pub async fn redeploy(gw: &Gateway, name: &str) {
    let records = match gw.store.list_functions(None).await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(model = %name, error = %e, "could not list functions to follow the registry");
            return;
        }
    };
    for record in records {
        let spec = match FunctionSpec::try_from(record.deployment.clone()) {
            Ok(spec) => spec,
            Err(_) => continue,
        };
        if !spec.model.as_ref().is_some_and(|m| follows(&m.source, name)) {
            continue;
        }
        let function = spec.name.clone();
        match crate::api::functions::deploy(gw, spec, Some(record)).await {
            Ok(()) => tracing::info!(%function, model = %name, "model function follows the registry"),
            Err(e) => tracing::warn!(%function, model = %name, error = %e, "model function kept its model"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_and_stages_follow_pinned_versions_and_files_do_not() {
        let registry = |r: &str| ModelSource::Registry(r.into());
        assert!(follows(&registry("taxi"), "taxi"));
        assert!(follows(&registry("taxi@production"), "taxi"));
        assert!(!follows(&registry("taxi:3"), "taxi"));
        assert!(!follows(&registry("taxi@production"), "taxis"));
        assert!(!follows(&ModelSource::File("taxi".into()), "taxi"));
    }
}

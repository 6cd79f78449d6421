//! The store conformance suite: backend-neutral checks of the [`Store`] contract (functions, secrets,
//! namespaces, invocation counts, the model registry and the call queue), run against every backend.
//!
//! # Layout
//! - `functions.rs`: functions, secrets, namespaces, invocation counts.
//! - `registry.rs`: [`sedge_store::ModelStore`].
//! - `queue.rs`: [`sedge_store::CallQueue`].
//!
//! Each check is an `async fn(Arc<dyn Store>)` on an empty store. A backend's test binary (`tests/sqlite.rs`,
//! `tests/postgres.rs`, `tests/mariadb.rs`) declares `mod conformance;` and invokes [`conformance_tests!`] with
//! an `async fn(&'static str) -> Fixture` that makes a fresh, empty database for the named test; the macro
//! expands to one `#[tokio::test]` per check, so each passes or fails on its own.

pub mod functions;
pub mod queue;
pub mod registry;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use sedge_core::QualifiedName;
use sedge_core::api::FunctionDeployment;
use sedge_store::{FunctionRecord, Store};

/// A fresh store and whatever keeps its database alive (a temp dir, a server handle).
pub struct Fixture {
    /// The store under test, empty.
    pub store: Arc<dyn Store>,
    /// Dropped after the check.
    #[allow(dead_code)] // Held for its drop, never read.
    pub keep: Box<dyn Any + Send>,
}

/// Expands to one `#[tokio::test]` per conformance check, each on `$fresh(test_name).await`.
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance::conformance_tests!(@each $fresh;
            functions::function_round_trip,
            functions::put_function_without_namespace_uses_the_default,
            functions::put_function_upsert_keeps_created_at_and_count,
            functions::list_functions_is_ordered_and_filtered,
            functions::delete_function_reports_existence,
            functions::set_replicas_updates_only_existing_functions,
            functions::add_invocations_adds_skips_unknown_and_saturates,
            functions::secret_create_conflicts_when_it_exists,
            functions::secret_update_needs_an_existing_secret,
            functions::list_and_delete_secrets,
            functions::secret_values_are_bytes,
            functions::keys_are_case_sensitive_and_sorted_by_bytes,
            functions::namespaces_is_the_sorted_union,
            registry::versions_increase_per_name,
            registry::concurrent_adds_get_distinct_versions,
            registry::records_round_trip,
            registry::get_model_by_latest_number_and_stage,
            registry::exclusive_stage_archives_the_previous_holder,
            registry::concurrent_promotions_leave_one_holder,
            registry::stage_change_of_a_missing_version_changes_nothing,
            registry::list_models_filters_and_orders,
            registry::the_json_list_is_the_serialised_list,
            registry::delete_model_returns_the_row,
            registry::model_paths_are_distinct,
            registry::invalid_names_are_refused,
            queue::enqueue_and_get_round_trip,
            queue::repeated_id_conflicts,
            queue::claim_takes_oldest_first_up_to_the_limit,
            queue::claim_marks_running_and_counts_attempts,
            queue::due_times_are_respected,
            queue::retry_requeues_with_the_last_result,
            queue::finish_records_the_result,
            queue::requeue_running_after_a_crash,
            queue::cancel_only_when_queued,
            queue::list_calls_orders_and_filters,
            queue::bodies_round_trip_byte_exact,
            queue::concurrent_claims_never_share_a_call,
        );
    };
    (@each $fresh:path; $($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture: $crate::conformance::Fixture = $fresh(stringify!($check)).await;
                $crate::conformance::$module::$check(fixture.store.clone()).await;
                drop(fixture);
            }
        )*
    };
}
pub(crate) use conformance_tests;

/// `name.namespace`.
pub fn qn(name: &str, namespace: &str) -> QualifiedName {
    QualifiedName::new(name, Some(namespace)).unwrap()
}

/// A function deployment as the gateway would store it.
pub fn record(name: &str, namespace: &str, image: &str) -> FunctionRecord {
    FunctionRecord {
        deployment: FunctionDeployment {
            service: name.to_string(),
            image: image.to_string(),
            namespace: Some(namespace.to_string()),
            env_vars: Some(BTreeMap::from([("exec_timeout".to_string(), "5s".to_string())])),
            labels: Some(BTreeMap::from([("com.openfaas.scale.min".to_string(), "2".to_string())])),
            ..FunctionDeployment::default()
        },
        replicas: 2,
        created_at_ms: 1_700_000_000_000,
        invocation_count: 0,
    }
}

/// `name.namespace` of each record, in order.
pub fn names(records: &[FunctionRecord]) -> Vec<String> {
    records.iter().map(|r| format!("{}.{}", r.deployment.service, r.deployment.namespace.as_deref().unwrap())).collect()
}

//! Conformance checks for the model registry ([`sedge_store::ModelStore`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use sedge_store::{ModelQuery, ModelRecord, ModelVersion, NewModel, Stage, Store, StoreError};
use serde_json::json;

/// A model version to register, its path and hash derived from `tag`.
fn model(name: &str, tag: &str) -> NewModel {
    NewModel {
        name: name.to_string(),
        format: "onnx".into(),
        sha256: format!("{:0>64}", tag),
        size_bytes: 1234,
        model_path: format!("models/{name}/{tag}.onnx"),
        created_at_ms: 1_700_000_000_000,
        ..NewModel::default()
    }
}

/// `(name, version, stage)` of each record, in order.
fn keys(records: &[ModelRecord]) -> Vec<(String, u32, Stage)> {
    records.iter().map(|r| (r.model.name.clone(), r.version, r.stage)).collect()
}

async fn add(store: &Arc<dyn Store>, name: &str, tag: &str) -> ModelRecord {
    store.add_model(&model(name, tag)).await.unwrap()
}

async fn stage_of(store: &Arc<dyn Store>, name: &str, version: u32) -> Stage {
    store.get_model(name, ModelVersion::Number(version)).await.unwrap().unwrap().stage
}

pub async fn versions_increase_per_name(store: Arc<dyn Store>) {
    let a1 = add(&store, "taxi", "a1").await;
    let a2 = add(&store, "taxi", "a2").await;
    let b1 = add(&store, "mnist", "b1").await;
    let a3 = add(&store, "taxi", "a3").await;
    assert_eq!((a1.version, a2.version, b1.version, a3.version), (1, 2, 1, 3));
    assert_eq!((a1.stage, a3.stage), (Stage::None, Stage::None));
    let ids: BTreeSet<i64> = [a1.id, a2.id, b1.id, a3.id].into();
    assert_eq!(ids.len(), 4, "row ids are unique across names");
    // Deleting a middle version never makes a later registration reuse a number below the highest.
    store.delete_model("taxi", 2).await.unwrap().unwrap();
    assert_eq!(add(&store, "taxi", "a4").await.version, 4);
}

pub async fn concurrent_adds_get_distinct_versions(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.add_model(&model("race", &format!("t{i}"))).await })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().unwrap().version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<u32>>());
    let listed = store.list_models(&ModelQuery { name: Some("race".into()), ..ModelQuery::default() }).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.version).collect::<Vec<_>>(), (1..=8).rev().collect::<Vec<u32>>());
}

pub async fn records_round_trip(store: Arc<dyn Store>) {
    let full = NewModel {
        name: "mnist-cnn".into(),
        format: "onnx".into(),
        sha256: "ab".repeat(32),
        size_bytes: u64::from(u32::MAX) + 7,
        model_path: "models/mnist-cnn/1.onnx".into(),
        architecture: Some("cnn".into()),
        dataset: Some("mnist".into()),
        accuracy: Some(0.987_654_321_012_345_6),
        loss: Some(1.5e-7),
        metrics: json!({"accuracy": 0.9875, "rmse": 0.25, "note": "é ✓"}).as_object().unwrap().clone(),
        params: json!({"lr": 0.001, "layers": [32, 64], "nested": {"x": null}}).as_object().unwrap().clone(),
        signature: json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 784]}], "outputs": []}),
        created_by: Some("job-42".into()),
        created_at_ms: 1_712_345_678_901,
    };
    let added = store.add_model(&full).await.unwrap();
    assert_eq!((added.version, added.stage), (1, Stage::None));
    assert_eq!(added.model, full);
    let got = store.get_model("mnist-cnn", ModelVersion::Number(1)).await.unwrap().unwrap();
    assert_eq!(got, added);

    let bare = add(&store, "bare", "x").await;
    assert_eq!(bare.model, model("bare", "x"));
    assert_eq!(store.get_model("bare", ModelVersion::Latest).await.unwrap().unwrap().model, model("bare", "x"));
}

pub async fn get_model_by_latest_number_and_stage(store: Arc<dyn Store>) {
    assert_eq!(store.get_model("taxi", ModelVersion::Latest).await.unwrap(), None);
    for tag in ["1", "2", "3"] {
        add(&store, "taxi", tag).await;
    }
    add(&store, "other", "9").await;
    let version = |r: Option<ModelRecord>| r.map(|r| (r.model.name, r.version));
    assert_eq!(version(store.get_model("taxi", ModelVersion::Latest).await.unwrap()), Some(("taxi".into(), 3)));
    assert_eq!(version(store.get_model("taxi", ModelVersion::Number(2)).await.unwrap()), Some(("taxi".into(), 2)));
    assert_eq!(store.get_model("taxi", ModelVersion::Number(4)).await.unwrap(), None);
    assert_eq!(store.get_model("taxi", ModelVersion::Stage(Stage::Production)).await.unwrap(), None);
    store.set_model_stage("taxi", 2, Stage::Production).await.unwrap().unwrap();
    let prod = store.get_model("taxi", ModelVersion::Stage(Stage::Production)).await.unwrap();
    assert_eq!(version(prod), Some(("taxi".into(), 2)));
    // Several versions can hold `none`: the highest is meant.
    let none = store.get_model("taxi", ModelVersion::Stage(Stage::None)).await.unwrap();
    assert_eq!(version(none), Some(("taxi".into(), 3)));
    assert_eq!(store.get_model("other", ModelVersion::Stage(Stage::Production)).await.unwrap(), None);
}

pub async fn exclusive_stage_archives_the_previous_holder(store: Arc<dyn Store>) {
    for tag in ["1", "2", "3"] {
        add(&store, "taxi", tag).await;
    }
    add(&store, "other", "1").await;
    store.set_model_stage("other", 1, Stage::Production).await.unwrap().unwrap();

    let promoted = store.set_model_stage("taxi", 1, Stage::Production).await.unwrap().unwrap();
    assert_eq!((promoted.version, promoted.stage), (1, Stage::Production));
    store.set_model_stage("taxi", 2, Stage::Staging).await.unwrap().unwrap();

    let promoted = store.set_model_stage("taxi", 2, Stage::Production).await.unwrap().unwrap();
    assert_eq!((promoted.version, promoted.stage), (2, Stage::Production));
    assert_eq!(stage_of(&store, "taxi", 1).await, Stage::Archived);
    assert_eq!(stage_of(&store, "taxi", 3).await, Stage::None);
    assert_eq!(stage_of(&store, "other", 1).await, Stage::Production, "another name's holder is untouched");

    store.set_model_stage("taxi", 3, Stage::Staging).await.unwrap().unwrap();
    store.set_model_stage("taxi", 1, Stage::Staging).await.unwrap().unwrap();
    assert_eq!(stage_of(&store, "taxi", 3).await, Stage::Archived);
    assert_eq!(stage_of(&store, "taxi", 1).await, Stage::Staging);
    assert_eq!(stage_of(&store, "taxi", 2).await, Stage::Production);

    // Promoting the holder again keeps it; non-exclusive stages are shared.
    store.set_model_stage("taxi", 2, Stage::Production).await.unwrap().unwrap();
    assert_eq!(stage_of(&store, "taxi", 2).await, Stage::Production);
    store.set_model_stage("taxi", 1, Stage::Archived).await.unwrap().unwrap();
    store.set_model_stage("taxi", 2, Stage::None).await.unwrap().unwrap();
    store.set_model_stage("taxi", 3, Stage::None).await.unwrap().unwrap();
    let stages: Vec<Stage> = store.list_models(&ModelQuery::default()).await.unwrap().iter().map(|r| r.stage).collect();
    assert_eq!(stages, [Stage::Production, Stage::None, Stage::None, Stage::Archived]);
}

pub async fn concurrent_promotions_leave_one_holder(store: Arc<dyn Store>) {
    for i in 1..=8 {
        add(&store, "taxi", &i.to_string()).await;
    }
    let tasks: Vec<_> = (1..=8u32)
        .map(|version| {
            let store = store.clone();
            tokio::spawn(async move { store.set_model_stage("taxi", version, Stage::Production).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().unwrap().stage, Stage::Production);
    }
    let stages: Vec<Stage> = store.list_models(&ModelQuery::default()).await.unwrap().iter().map(|r| r.stage).collect();
    assert_eq!(stages.iter().filter(|s| **s == Stage::Production).count(), 1, "{stages:?}");
    assert_eq!(stages.iter().filter(|s| **s == Stage::Archived).count(), 7, "{stages:?}");
}

pub async fn stage_change_of_a_missing_version_changes_nothing(store: Arc<dyn Store>) {
    add(&store, "taxi", "1").await;
    store.set_model_stage("taxi", 1, Stage::Production).await.unwrap().unwrap();
    assert_eq!(store.set_model_stage("taxi", 7, Stage::Production).await.unwrap(), None);
    assert_eq!(store.set_model_stage("ghost", 1, Stage::Staging).await.unwrap(), None);
    assert_eq!(stage_of(&store, "taxi", 1).await, Stage::Production, "the holder is not archived for nothing");
}

pub async fn list_models_filters_and_orders(store: Arc<dyn Store>) {
    let with_dataset = |name: &str, tag: &str, dataset: &str| {
        let mut m = model(name, tag);
        m.dataset = Some(dataset.into());
        m
    };
    for m in [
        with_dataset("zeta", "1", "mnist"),
        with_dataset("alpha", "1", "taxi"),
        with_dataset("zeta", "2", "mnist"),
        with_dataset("alpha", "2", "mnist"),
        with_dataset("alpha", "3", "taxi"),
    ] {
        store.add_model(&m).await.unwrap();
    }
    store.set_model_stage("alpha", 2, Stage::Production).await.unwrap().unwrap();
    store.set_model_stage("zeta", 1, Stage::Production).await.unwrap().unwrap();
    let list = |q: ModelQuery| {
        let store = store.clone();
        async move { keys(&store.list_models(&q).await.unwrap()) }
    };
    let k = |name: &str, version: u32, stage: Stage| (name.to_string(), version, stage);
    let (none, prod) = (Stage::None, Stage::Production);

    let all =
        vec![k("alpha", 3, none), k("alpha", 2, prod), k("alpha", 1, none), k("zeta", 2, none), k("zeta", 1, prod)];
    assert_eq!(list(ModelQuery::default()).await, all);
    let by_name = ModelQuery { name: Some("zeta".into()), ..ModelQuery::default() };
    assert_eq!(list(by_name).await, [k("zeta", 2, none), k("zeta", 1, prod)]);
    let by_stage = ModelQuery { stage: Some(prod), ..ModelQuery::default() };
    assert_eq!(list(by_stage).await, [k("alpha", 2, prod), k("zeta", 1, prod)]);
    let by_dataset = ModelQuery { dataset: Some("taxi".into()), ..ModelQuery::default() };
    assert_eq!(list(by_dataset).await, [k("alpha", 3, none), k("alpha", 1, none)]);
    let combined = ModelQuery { dataset: Some("mnist".into()), stage: Some(none), ..ModelQuery::default() };
    assert_eq!(list(combined).await, [k("zeta", 2, none)]);
    let limited = ModelQuery { limit: Some(2), ..ModelQuery::default() };
    assert_eq!(list(limited).await, all[..2]);
    let zero = ModelQuery { limit: Some(0), ..ModelQuery::default() };
    assert!(list(zero).await.is_empty());
    let unknown = ModelQuery { name: Some("ghost".into()), ..ModelQuery::default() };
    assert!(list(unknown).await.is_empty());
}

pub async fn delete_model_returns_the_row(store: Arc<dyn Store>) {
    add(&store, "taxi", "1").await;
    let second = add(&store, "taxi", "2").await;
    assert_eq!(store.delete_model("taxi", 2).await.unwrap(), Some(second));
    assert_eq!(store.delete_model("taxi", 2).await.unwrap(), None);
    assert_eq!(store.delete_model("ghost", 1).await.unwrap(), None);
    assert_eq!(store.get_model("taxi", ModelVersion::Number(2)).await.unwrap(), None);
    assert_eq!(store.get_model("taxi", ModelVersion::Latest).await.unwrap().unwrap().version, 1);
}

pub async fn model_paths_are_distinct(store: Arc<dyn Store>) {
    assert!(store.model_paths().await.unwrap().is_empty());
    let mut shared = model("taxi", "3");
    shared.model_path = "models/shared.onnx".into();
    store.add_model(&model("taxi", "1")).await.unwrap();
    store.add_model(&shared).await.unwrap();
    shared.name = "copy".into();
    store.add_model(&shared).await.unwrap();
    let mut paths = store.model_paths().await.unwrap();
    paths.sort();
    assert_eq!(paths, ["models/shared.onnx", "models/taxi/1.onnx"]);
    store.delete_model("taxi", 1).await.unwrap().unwrap();
    assert_eq!(store.model_paths().await.unwrap(), ["models/shared.onnx"]);
}

pub async fn invalid_names_are_refused(store: Arc<dyn Store>) {
    for name in ["", "Taxi", "../etc", "-x"] {
        let err = store.add_model(&model(name, "1")).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(msg) if msg.contains("model name")), "{name:?}: {err:?}");
    }
    assert!(store.list_models(&ModelQuery::default()).await.unwrap().is_empty());
}

pub async fn the_json_list_is_the_serialised_list(store: Arc<dyn Store>) {
    let empty = ModelQuery::default();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&store.list_models_json(&empty).await.unwrap()).unwrap(),
        json!([])
    );
    let awkward = NewModel {
        architecture: Some("quote \" backslash \\ tab \t newline \n é ✓ \u{1}".into()),
        dataset: None,
        accuracy: Some(1.0 / 3.0),
        loss: Some(0.9),
        metrics: json!({"accuracy": 1.0 / 3.0, "big": 1e300, "tiny": 5e-324, "n": -7}).as_object().unwrap().clone(),
        params: json!({"nested": {"list": [1, "two", null, true]}}).as_object().unwrap().clone(),
        signature: json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}], "outputs": []}),
        created_by: Some("job-1".into()),
        ..model("odd", "1")
    };
    store.add_model(&awkward).await.unwrap();
    for k in 0..5 {
        let mut m = model("plain", &k.to_string());
        m.accuracy = Some(0.1 + 0.2 * f64::from(k));
        store.add_model(&m).await.unwrap();
    }
    store.set_model_stage("plain", 2, Stage::Production).await.unwrap();
    for query in [
        ModelQuery::default(),
        ModelQuery { name: Some("plain".into()), limit: Some(3), ..ModelQuery::default() },
        ModelQuery { stage: Some(Stage::Production), ..ModelQuery::default() },
        ModelQuery { name: Some("none".into()), ..ModelQuery::default() },
    ] {
        let json = store.list_models_json(&query).await.unwrap();
        let parsed: Vec<ModelRecord> = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(parsed, store.list_models(&query).await.unwrap(), "{query:?}");
    }
}

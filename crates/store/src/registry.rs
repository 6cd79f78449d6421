//! The model registry's metadata: one row per registered model version, the capability [`ModelStore`] every
//! backend provides, and the pure parts around it (stages, version references).
//!
//! The artifact itself lives in an object store (`sedge-artifacts`); a row points to it with `model_path`. A row
//! is written only after its artifact is complete and hashed, in one transaction that also picks the version
//! number, so a crash leaves either a whole model or none (an unreferenced object is collected later).
//!
//! The columns are seed 000's `models(id, name, dataset_name, architecture, accuracy, loss, created_at,
//! model_path)` plus version, format, sha256, size, signature, metrics, params, stage and who created it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::StoreError;

/// A model version's life-cycle stage, as in MLflow's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Registered, not promoted.
    #[default]
    None,
    /// Being tried out; at most one version per name.
    Staging,
    /// Served by `registry:NAME@production`; at most one version per name.
    Production,
    /// Replaced or retired; still pullable.
    Archived,
}

impl Stage {
    /// Every stage, in life-cycle order.
    pub const ALL: [Stage; 4] = [Stage::None, Stage::Staging, Stage::Production, Stage::Archived];

    /// The stored and displayed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "none",
            Stage::Staging => "staging",
            Stage::Production => "production",
            Stage::Archived => "archived",
        }
    }

    /// Parses a stage (case-insensitive); the error lists the accepted ones.
    pub fn parse(text: &str) -> Result<Stage, String> {
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| format!("unknown stage {text:?}: use none, staging, production or archived"))
    }

    /// Whether only one version of a name may hold this stage (promoting another archives the holder).
    pub fn is_exclusive(self) -> bool {
        matches!(self, Stage::Staging | Stage::Production)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which version of a name a reference means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelVersion {
    /// The highest version.
    Latest,
    /// One version number.
    Number(u32),
    /// The version holding a stage (the highest, should several: only `archived` and `none` can).
    Stage(Stage),
}

/// A parsed `NAME`, `NAME:VERSION` or `NAME@STAGE` (what follows `registry:` in a model function's source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// The registered name.
    pub name: String,
    /// Which of its versions.
    pub version: ModelVersion,
}

impl ModelRef {
    /// Parses a reference; the name must be a DNS-style label (lowercase letters, digits, `-`, `.`, `_`).
    pub fn parse(text: &str) -> Result<ModelRef, String> {
        let text = text.trim();
        let (name, version) = if let Some((name, stage)) = text.split_once('@') {
            (name, ModelVersion::Stage(Stage::parse(stage)?))
        } else if let Some((name, number)) = text.split_once(':') {
            let n = number
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("version {number:?} in {text:?} is not a positive whole number"))?;
            (name, ModelVersion::Number(n))
        } else {
            (text, ModelVersion::Latest)
        };
        validate_model_name(name)?;
        Ok(ModelRef { name: name.to_string(), version })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            ModelVersion::Latest => f.write_str(&self.name),
            ModelVersion::Number(n) => write!(f, "{}:{n}", self.name),
            ModelVersion::Stage(s) => write!(f, "{}@{s}", self.name),
        }
    }
}

/// Checks a model name: 1–63 characters of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn validate_model_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    if name.is_empty() {
        return Err("model name is empty".into());
    }
    if name.len() > 63 {
        return Err(format!("model name {name:?} is longer than 63 characters"));
    }
    if !name.chars().all(ok_char) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "model name {name:?} is not valid: use lowercase letters, digits, '-', '_' and '.', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// A model version about to be registered: its artifact is already complete at `model_path`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewModel {
    /// The registered name (see [`validate_model_name`]).
    pub name: String,
    /// The artifact's format: `onnx` for everything sedge serves.
    pub format: String,
    /// Lowercase hex sha256 of the artifact.
    pub sha256: String,
    /// The artifact's length.
    pub size_bytes: u64,
    /// The artifact's key in the object store.
    pub model_path: String,
    /// What kind of model (`cnn`, `mlp`, `gbdt`, …), the seed's `architecture`.
    pub architecture: Option<String>,
    /// What it was trained on, the seed's `dataset_name`.
    pub dataset: Option<String>,
    /// Held-out accuracy, when it has one (also in `metrics`).
    pub accuracy: Option<f64>,
    /// Final loss, when it has one (also in `metrics`).
    pub loss: Option<f64>,
    /// Every reported metric (accuracy, loss, rmse, …).
    pub metrics: Map<String, Value>,
    /// Training hyper-parameters.
    pub params: Map<String, Value>,
    /// Input and output signature: `{"inputs": [{name, datatype, shape}], "outputs": [...]}` as OIP v2 metadata.
    pub signature: Value,
    /// Who registered it: a function name, a job id, or a user.
    pub created_by: Option<String>,
    /// Registration time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Row id, unique across names.
    pub id: i64,
    /// Version within the name: 1, 2, 3, … in registration order, never reused while a higher one exists.
    pub version: u32,
    /// Life-cycle stage.
    pub stage: Stage,
    /// Everything given at registration.
    #[serde(flatten)]
    pub model: NewModel,
}

/// Filters for [`ModelStore::list_models`]; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelQuery {
    /// Exactly this name.
    pub name: Option<String>,
    /// Only this stage.
    pub stage: Option<Stage>,
    /// Only this dataset.
    pub dataset: Option<String>,
    /// At most this many rows.
    pub limit: Option<u32>,
}

/// Model metadata, committed before each method returns.
#[async_trait]
pub trait ModelStore: Send + Sync {
    /// Registers a version: the next number for its name (1 for a new name), stage `none`, in one transaction.
    /// Fails with [`StoreError::Invalid`] for a name [`validate_model_name`] refuses.
    async fn add_model(&self, model: &NewModel) -> Result<ModelRecord, StoreError>;
    /// One version of a name, `None` when there is no such version.
    async fn get_model(&self, name: &str, version: ModelVersion) -> Result<Option<ModelRecord>, StoreError>;
    /// Versions matching `query`, ordered by name, then version descending.
    async fn list_models(&self, query: &ModelQuery) -> Result<Vec<ModelRecord>, StoreError>;
    /// [`ModelStore::list_models`] as the JSON array of [`ModelRecord`]s that `GET /system/models` answers.
    /// A backend may build it in SQL: SQLite and PostgreSQL do (on SQLite, 10,000 versions in about a third of
    /// the time of decoding rows one by one and serialising them); MariaDB uses this default.
    async fn list_models_json(&self, query: &ModelQuery) -> Result<String, StoreError> {
        let records = self.list_models(query).await?;
        serde_json::to_string(&records).map_err(|e| StoreError::Corrupt(format!("encoding the model list: {e}")))
    }
    /// Removes a version and returns it, `None` when it did not exist.
    async fn delete_model(&self, name: &str, version: u32) -> Result<Option<ModelRecord>, StoreError>;
    /// Moves a version to `stage`. For an exclusive stage, the version holding it is archived in the same
    /// transaction. `None` when the version does not exist.
    async fn set_model_stage(&self, name: &str, version: u32, stage: Stage) -> Result<Option<ModelRecord>, StoreError>;
    /// Every distinct `model_path` rows point to (what the artifact collector keeps).
    async fn model_paths(&self) -> Result<Vec<String>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_names_versions_and_stages() {
        let r = ModelRef::parse("taxi@production").unwrap();
        assert_eq!(r, ModelRef { name: "taxi".into(), version: ModelVersion::Stage(Stage::Production) });
        assert_eq!(ModelRef::parse("taxi:3").unwrap().version, ModelVersion::Number(3));
        assert_eq!(ModelRef::parse("mnist-cnn").unwrap().version, ModelVersion::Latest);
        assert_eq!(ModelRef::parse("taxi@Staging").unwrap().to_string(), "taxi@staging");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        assert!(ModelRef::parse("taxi:0").unwrap_err().contains("positive whole number"));
        assert!(ModelRef::parse("taxi:x").unwrap_err().contains("\"x\""));
        assert!(ModelRef::parse("taxi@live").unwrap_err().contains("use none, staging, production or archived"));
        assert!(ModelRef::parse("Taxi").unwrap_err().contains("lowercase"));
        assert!(ModelRef::parse("").unwrap_err().contains("empty"));
        assert!(ModelRef::parse("../etc").unwrap_err().contains("not valid"));
    }

    #[test]
    fn records_serialise_flat() {
        let record = ModelRecord {
            id: 1,
            version: 2,
            stage: Stage::Production,
            model: NewModel { name: "taxi".into(), format: "onnx".into(), ..NewModel::default() },
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["name"], "taxi");
        assert_eq!(json["stage"], "production");
        assert_eq!(serde_json::from_value::<ModelRecord>(json).unwrap(), record);
    }
}

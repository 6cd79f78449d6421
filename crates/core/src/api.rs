//! The OpenFaaS gateway's JSON wire types, field for field as faas-provider's `types/*.go` writes them, so that
//! faas-cli and other OpenFaaS clients read sedge's answers unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST`/`PUT /system/functions` body (faas-provider `FunctionDeployment`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeployment {
    /// Function name (required).
    pub service: String,
    /// Image name; for sedge, the name of a bundle built by `sedge build`, or anything when `envProcess` names
    /// an executable.
    #[serde(default)]
    pub image: String,
    /// Namespace; empty means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The watchdog's `fprocess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_process: Option<String>,
    /// Environment variables, including watchdog settings such as `exec_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<BTreeMap<String, String>>,
    /// Placement constraints (kept, not used by the local provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<String>>,
    /// Names of secrets the function may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
    /// Labels, e.g. `com.openfaas.scale.min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations, e.g. `com.openfaas.ready.http.path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<FunctionResources>,
    /// Resource requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<FunctionResources>,
    /// Read-only root filesystem (kept, not enforced by the local provider).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root_filesystem: bool,
}

/// CPU, memory and GPU quantities (faas-provider `FunctionResources`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionResources {
    /// Memory quantity, e.g. `128Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CPU quantity, e.g. `100m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// NVIDIA GPUs.
    #[serde(default, rename = "nvidia.com/gpu", skip_serializing_if = "Option::is_none")]
    pub nvidia_gpu: Option<String>,
    /// AMD GPUs.
    #[serde(default, rename = "amd.com/gpu", skip_serializing_if = "Option::is_none")]
    pub amd_gpu: Option<String>,
    /// Intel GPUs.
    #[serde(default, rename = "intel.com/gpu", skip_serializing_if = "Option::is_none")]
    pub intel_gpu: Option<String>,
}

/// `GET /system/functions` item and `GET /system/function/{name}` (faas-provider `FunctionStatus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    /// Function name.
    pub name: String,
    /// Image (bundle) name.
    #[serde(default)]
    pub image: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The watchdog's `fprocess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_process: Option<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<BTreeMap<String, String>>,
    /// Placement constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<String>>,
    /// Secret names (never values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<FunctionResources>,
    /// Resource requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<FunctionResources>,
    /// Read-only root filesystem.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root_filesystem: bool,
    /// Completed invocations.
    #[serde(default)]
    pub invocation_count: f64,
    /// Desired replicas.
    #[serde(default)]
    pub replicas: u64,
    /// Ready replicas.
    #[serde(default)]
    pub available_replicas: u64,
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Resource usage, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<FunctionUsage>,
}

/// Resource usage of all of a function's replicas (faas-provider `FunctionUsage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUsage {
    /// CPU in millicores.
    #[serde(default)]
    pub cpu: f64,
    /// Resident memory in bytes.
    #[serde(default)]
    pub total_memory_bytes: f64,
}

impl FunctionStatus {
    /// The status of a deployment, before counts and replicas are filled in.
    pub fn from_deployment(d: &FunctionDeployment) -> Self {
        Self {
            name: d.service.clone(),
            image: d.image.clone(),
            namespace: d.namespace.clone(),
            env_process: d.env_process.clone(),
            env_vars: d.env_vars.clone(),
            constraints: d.constraints.clone(),
            secrets: d.secrets.clone(),
            labels: d.labels.clone(),
            annotations: d.annotations.clone(),
            limits: d.limits.clone(),
            requests: d.requests.clone(),
            read_only_root_filesystem: d.read_only_root_filesystem,
            ..Self::default()
        }
    }
}

/// `POST /system/scale-function/{name}` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleServiceRequest {
    /// Function name.
    #[serde(default)]
    pub service_name: String,
    /// Desired replicas.
    pub replicas: u64,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `DELETE /system/functions` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteFunctionRequest {
    /// Function name.
    pub function_name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `/system/secrets` body; `GET` returns names only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Secret name.
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Value as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Value as bytes (base64 in JSON, as Go encodes `[]byte`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_bytes")]
    pub raw_value: Option<Vec<u8>>,
}

/// `GET /system/info` (gateway `GatewayInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// The provider behind the gateway.
    pub provider: ProviderInfo,
    /// The gateway's version.
    pub version: VersionInfo,
    /// CPU architecture, e.g. `x86_64`.
    pub arch: String,
}

/// The provider part of [`GatewayInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Provider name, e.g. `sedge-local`.
    pub provider: String,
    /// Provider version.
    pub version: VersionInfo,
    /// Orchestration, e.g. `process`.
    pub orchestration: String,
}

/// A version triple as OpenFaaS reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Commit message, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Commit hash, if known.
    #[serde(default)]
    pub sha: String,
    /// Release, e.g. `0.1.0`.
    #[serde(default)]
    pub release: String,
}

/// One line of `GET /system/logs` (faas-provider `logs.Message`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMessage {
    /// Function name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Replica that wrote the line.
    pub instance: String,
    /// RFC 3339 time with nanoseconds.
    pub timestamp: String,
    /// The line.
    pub text: String,
}

mod base64_bytes {
    //! `[]byte` as Go's encoding/json writes it: standard base64.
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| STANDARD.decode(t).map_err(|_| serde::de::Error::custom("rawValue is not valid base64")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_uses_openfaas_field_names() {
        let json = r#"{"service":"nodeinfo","image":"functions/nodeinfo:latest","envProcess":"node main.js",
            "envVars":{"exec_timeout":"8s"},"labels":{"com.openfaas.scale.min":"2"},
            "limits":{"memory":"128Mi","nvidia.com/gpu":"1"},"readOnlyRootFilesystem":true}"#;
        let d: FunctionDeployment = serde_json::from_str(json).unwrap();
        assert_eq!(d.env_process.as_deref(), Some("node main.js"));
        assert_eq!(d.limits.as_ref().unwrap().nvidia_gpu.as_deref(), Some("1"));
        let back = serde_json::to_value(FunctionStatus::from_deployment(&d)).unwrap();
        assert_eq!(back["name"], "nodeinfo");
        assert_eq!(back["envProcess"], "node main.js");
        assert_eq!(back["readOnlyRootFilesystem"], true);
    }

    #[test]
    fn secret_raw_value_is_base64() {
        let s: Secret = serde_json::from_str(r#"{"name":"k","rawValue":"aGk="}"#).unwrap();
        assert_eq!(s.raw_value.as_deref(), Some(&b"hi"[..]));
        assert!(serde_json::from_str::<Secret>(r#"{"name":"k","rawValue":"***"}"#).is_err());
    }
}

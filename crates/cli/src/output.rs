//! How the CLI prints what the gateway answers: aligned tables for people, JSON or YAML for scripts (`-o`).
//!
//! Every function here returns a `String`; the commands decide where it goes.

use anyhow::{Context, Result};
use sedge_core::api::{FunctionStatus, GatewayInfo, Secret};
use serde::Serialize;

/// Output format, chosen with `-o`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// Pretty JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `value` as JSON or YAML; `None` for [`Format::Table`], which each command formats itself.
pub fn structured<T: Serialize>(format: Format, value: &T) -> Result<Option<String>> {
    match format {
        Format::Table => Ok(None),
        Format::Json => serde_json::to_string_pretty(value).map(|s| Some(s + "\n")).context("could not encode JSON"),
        Format::Yaml => serde_yaml::to_string(value).map(Some).context("could not encode YAML"),
    }
}

/// Columns padded to the widest cell, separated by three spaces; no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            out.push_str(&format!("{cell:<width$}   "));
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// `sedge list`: one row per function.
pub fn functions_table(functions: &[FunctionStatus]) -> String {
    let rows: Vec<Vec<String>> = functions
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                f.image.clone(),
                format!("{}", f.invocation_count.round() as u64),
                format!("{}", f.replicas),
                format!("{}", f.available_replicas),
            ]
        })
        .collect();
    table(&["Function", "Image", "Invocations", "Replicas", "Available"], &rows)
}

/// `sedge describe`: one field per line, as faas-cli shows it; URLs from the gateway's base.
pub fn describe(f: &FunctionStatus, gateway: &str) -> String {
    let address = match f.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{}.{ns}", f.name),
        None => f.name.clone(),
    };
    let status = if f.available_replicas > 0 { "Ready" } else { "Not Ready" };
    let map = |m: &Option<std::collections::BTreeMap<String, String>>| {
        m.as_ref().map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")).unwrap_or_default()
    };
    let mut fields = vec![
        ("Name", f.name.clone()),
        ("Namespace", f.namespace.clone().unwrap_or_default()),
        ("Status", status.to_string()),
        ("Replicas", f.replicas.to_string()),
        ("Available Replicas", f.available_replicas.to_string()),
        ("Invocations", format!("{}", f.invocation_count.round() as u64)),
        ("Image", f.image.clone()),
        ("Function Process", f.env_process.clone().unwrap_or_default()),
        ("URL", format!("{gateway}/function/{address}")),
        ("Async URL", format!("{gateway}/async-function/{address}")),
        ("Labels", map(&f.labels)),
        ("Annotations", map(&f.annotations)),
        ("Environment", map(&f.env_vars)),
        ("Secrets", f.secrets.as_ref().map(|s| s.join(", ")).unwrap_or_default()),
    ];
    if let Some(created) = &f.created_at {
        fields.push(("Created", created.clone()));
    }
    if let Some(usage) = &f.usage {
        fields.push(("CPU", format!("{:.0} millicores", usage.cpu)));
        fields.push(("Memory", format!("{:.1} MiB", usage.total_memory_bytes / (1024.0 * 1024.0))));
    }
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    fields.iter().map(|(k, v)| format!("{:<width$} {v}", format!("{k}:")).trim_end().to_string() + "\n").collect()
}

/// `sedge secret list`.
pub fn secrets_table(secrets: &[Secret]) -> String {
    let rows: Vec<Vec<String>> =
        secrets.iter().map(|s| vec![s.name.clone(), s.namespace.clone().unwrap_or_default()]).collect();
    table(&["NAME", "NAMESPACE"], &rows)
}

/// What `sedge version` reports: the CLI and, when reachable, the gateway.
#[derive(Debug, Clone, Serialize)]
pub struct VersionReport {
    /// The CLI's version.
    pub cli: String,
    /// The gateway's URL.
    pub gateway_url: String,
    /// `GET /system/info`, or `None` when the gateway could not be reached.
    pub gateway: Option<GatewayInfo>,
}

/// `sedge version` as text, laid out as faas-cli's.
pub fn version(report: &VersionReport) -> String {
    let mut out = format!("CLI:\n version: {}\n", report.cli);
    if let Some(info) = &report.gateway {
        out.push_str(&format!(
            "\nGateway\n uri:     {}\n version: {}\n sha:     {}\n",
            report.gateway_url, info.version.release, info.version.sha
        ));
        out.push_str(&format!(
            "\nProvider\n name:          {}\n orchestration: {}\n version:       {}\n sha:           {}\n arch:          {}\n",
            info.provider.provider,
            info.provider.orchestration,
            info.provider.version.release,
            info.provider.version.sha,
            info.arch
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn status(name: &str) -> FunctionStatus {
        FunctionStatus {
            name: name.to_string(),
            image: format!("{name}:latest"),
            namespace: Some("openfaas-fn".to_string()),
            invocation_count: 12.0,
            replicas: 2,
            available_replicas: 1,
            labels: Some(BTreeMap::from([("com.openfaas.scale.min".to_string(), "2".to_string())])),
            ..FunctionStatus::default()
        }
    }

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let out = functions_table(&[status("figlet"), status("a")]);
        assert_eq!(
            out,
            "Function   Image           Invocations   Replicas   Available\n\
             figlet     figlet:latest   12            2          1\n\
             a          a:latest        12            2          1\n"
        );
        assert_eq!(table(&["NAME"], &[]), "NAME\n");
    }

    #[test]
    fn describe_shows_urls_and_labels() {
        let out = describe(&status("figlet"), "http://127.0.0.1:8080");
        assert!(out.contains("Name:               figlet\n"), "{out}");
        assert!(out.contains("Status:             Ready\n"), "{out}");
        assert!(out.contains("URL:                http://127.0.0.1:8080/function/figlet.openfaas-fn\n"), "{out}");
        assert!(out.contains("Labels:             com.openfaas.scale.min=2\n"), "{out}");
        assert!(out.contains("Function Process:\n"), "empty values leave no trailing spaces: {out}");
    }

    #[test]
    fn structured_formats() {
        let secrets = vec![Secret { name: "db".to_string(), ..Secret::default() }];
        assert_eq!(structured(Format::Table, &secrets).unwrap(), None);
        let json = structured(Format::Json, &secrets).unwrap().unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap(), serde_json::json!([{"name": "db"}]));
        assert_eq!(structured(Format::Yaml, &secrets).unwrap().unwrap(), "- name: db\n");
        assert_eq!(secrets_table(&secrets), "NAME   NAMESPACE\ndb\n");
    }

    #[test]
    fn version_without_a_gateway_shows_the_cli_only() {
        let report = VersionReport { cli: "0.1.0".to_string(), gateway_url: "http://x".to_string(), gateway: None };
        assert_eq!(version(&report), "CLI:\n version: 0.1.0\n");
        let report = VersionReport { gateway: Some(GatewayInfo::default()), ..report };
        assert!(version(&report).contains("\nGateway\n uri:     http://x\n"));
    }
}

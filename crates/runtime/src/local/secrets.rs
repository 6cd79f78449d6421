//! Secret files: `<run dir>/secrets/<name>`, folder mode 0700 and files mode 0600, written only for functions
//! that name the secret. Values never pass through logs or the API.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Replaces the secrets folder's content with `secrets`.
pub async fn write_all(dir: &Path, secrets: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    let _ = tokio::fs::remove_dir_all(dir).await;
    tokio::fs::create_dir_all(dir).await?;
    tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).await?;
    for (name, value) in secrets {
        write_one(dir, name, Some(value)).await?;
    }
    Ok(())
}

/// Writes one secret file (atomically, by rename), or removes it when `value` is `None`.
pub async fn write_one(dir: &Path, name: &str, value: Option<&[u8]>) -> std::io::Result<()> {
    let path = dir.join(name);
    let Some(value) = value else {
        return match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    let tmp = dir.join(format!(".{name}.tmp"));
    let value = value.to_vec();
    let tmp2 = tmp.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp2)?;
        f.write_all(&value)?;
        f.sync_all()
    })
    .await
    .map_err(std::io::Error::other)??;
    tokio::fs::rename(&tmp, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        write_all(&secrets, &[("api-key".into(), b"s3cr3t".to_vec())]).await.unwrap();
        let meta = std::fs::metadata(secrets.join("api-key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::read(secrets.join("api-key")).unwrap(), b"s3cr3t");
        write_one(&secrets, "api-key", None).await.unwrap();
        assert!(!secrets.join("api-key").exists());
    }
}

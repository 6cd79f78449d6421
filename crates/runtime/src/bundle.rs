//! Finding a function's bundle by image name (see `sedge_core::bundle` for the layout).

use std::io;
use std::path::{Path, PathBuf};

use sedge_core::bundle::{BundleManifest, MANIFEST_FILE, image_key};

/// The folder that holds all bundles in a state directory.
pub fn bundles_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("bundles")
}

/// The folder of the bundle for `image` (which may not exist).
pub fn bundle_dir(state_dir: &Path, image: &str) -> PathBuf {
    bundles_dir(state_dir).join(image_key(image))
}

/// Loads the bundle built for `image`: its folder and manifest, or `None` if none was built.
pub fn load(state_dir: &Path, image: &str) -> io::Result<Option<(PathBuf, BundleManifest)>> {
    let dir = bundle_dir(state_dir, image);
    let text = match std::fs::read(dir.join(MANIFEST_FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let manifest: BundleManifest = serde_json::from_slice(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", dir.display())))?;
    Ok(Some((dir, manifest)))
}

//! Test helpers shared by the engine and serving tests: the reference models and fixtures of `shared/models`
//! (a missing file fails the test) and float comparison at the tolerance the README states.

use std::path::PathBuf;

use crate::oip::TensorData;

/// Absolute tolerance against onnxruntime's Python outputs (the models README measures agreement within 1e-6).
pub const TOL: f32 = 1e-5;

/// `shared/models`.
pub fn models() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models"))
}

/// A file under `shared/models`.
pub fn read(name: &str) -> Vec<u8> {
    let path = models().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reference file {} is missing: {e}", path.display()))
}

/// The values of an FP32 tensor.
pub fn f32s(data: TensorData) -> Vec<f32> {
    match data {
        TensorData::F32(v) => v,
        other => panic!("expected FP32, got {}", other.datatype()),
    }
}

/// Element-wise equality within [`TOL`].
pub fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= TOL, "element {i}: got {g}, want {w}");
    }
}

//! [`Signature`]: a model's declared inputs (and outputs), and validation of a decoded request against them —
//! names, datatypes, ranks and fixed dimensions (`-1` accepts any size). Every declared input is required.

use super::error::OipError;
use super::types::{InferRequest, ModelMetadata, TensorMetadata};

/// What a model accepts and produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Declared inputs; all are required.
    pub inputs: Vec<TensorMetadata>,
    /// Declared outputs; when empty, requested output names are not checked.
    pub outputs: Vec<TensorMetadata>,
}

impl Signature {
    /// A signature from declared inputs and outputs.
    pub fn new(inputs: Vec<TensorMetadata>, outputs: Vec<TensorMetadata>) -> Self {
        Self { inputs, outputs }
    }

    /// The signature a model's metadata declares.
    pub fn from_metadata(meta: &ModelMetadata) -> Self {
        Self::new(meta.inputs.clone(), meta.outputs.clone())
    }

    /// Checks `req` against the signature: every input known, with the model's datatype, rank and fixed
    /// dimensions; every model input present; every requested output known.
    pub fn validate(&self, req: &InferRequest) -> Result<(), OipError> {
        for input in &req.inputs {
            let Some(meta) = self.inputs.iter().find(|m| m.name == input.name) else {
                let known = self.inputs.iter().map(|m| m.name.clone()).collect();
                return Err(OipError::UnknownInput { input: input.name.clone(), known });
            };
            if meta.datatype != input.datatype {
                return Err(OipError::DatatypeMismatch {
                    input: input.name.clone(),
                    expected: meta.datatype,
                    got: input.datatype,
                });
            }
            let fits = meta.shape.len() == input.shape.len()
                && meta.shape.iter().zip(&input.shape).all(|(&want, &got)| want < 0 || u64::try_from(want) == Ok(got));
            if !fits {
                return Err(OipError::ShapeMismatch {
                    input: input.name.clone(),
                    expected: meta.shape.clone(),
                    got: input.shape.clone(),
                });
            }
        }
        if let Some(missing) = self.inputs.iter().find(|m| !req.inputs.iter().any(|i| i.name == m.name)) {
            return Err(OipError::MissingInput { input: missing.name.clone() });
        }
        if self.outputs.is_empty() {
            return Ok(());
        }
        for wanted in req.outputs.iter().flatten() {
            if !self.outputs.iter().any(|o| o.name == wanted.name) {
                let known = self.outputs.iter().map(|o| o.name.clone()).collect();
                return Err(OipError::UnknownOutput { output: wanted.name.clone(), known });
            }
        }
        Ok(())
    }
}

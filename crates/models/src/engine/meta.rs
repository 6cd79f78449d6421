//! Reading an ONNX graph before tract translates it: the model's signature as [`TensorMetadata`] (graph inputs
//! minus initializers, ONNX element types mapped to OIP datatypes, `-1` for symbolic dimensions) and the
//! operators tract has no implementation for.

use std::collections::BTreeSet;

use tract_onnx::model::OnnxOpRegister;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::{GraphProto, ValueInfoProto, type_proto};

use super::EngineError;
use crate::oip::{Datatype, TensorMetadata};

/// Maps an ONNX `TensorProto.DataType` code to its OIP datatype; `None` for types OIP cannot carry
/// (complex, bfloat16, float8, 4-bit).
pub(crate) fn onnx_datatype(elem_type: i32) -> Option<Datatype> {
    Some(match elem_type {
        1 => Datatype::F32,
        2 => Datatype::U8,
        3 => Datatype::I8,
        4 => Datatype::U16,
        5 => Datatype::I16,
        6 => Datatype::I32,
        7 => Datatype::I64,
        8 => Datatype::Bytes,
        9 => Datatype::Bool,
        10 => Datatype::F16,
        11 => Datatype::F64,
        12 => Datatype::U32,
        13 => Datatype::U64,
        _ => return None,
    })
}

/// The graph's real inputs: `graph.input` minus the initializers (older exporters list weights as inputs).
pub(crate) fn graph_inputs(graph: &GraphProto) -> Vec<&ValueInfoProto> {
    let initializers: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect()
}

/// A value's metadata from its declared type: `Ok(None)` when the graph declares no tensor type or shape (the
/// caller may fall back on tract's inferred facts), an error for an element type OIP cannot carry.
pub(crate) fn value_metadata(value: &ValueInfoProto) -> Result<Option<TensorMetadata>, EngineError> {
    let tensor = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(tensor)) => tensor,
        None => return Ok(None),
    };
    let Some(shape) = tensor.shape.as_ref() else { return Ok(None) };
    if tensor.elem_type == 0 {
        return Ok(None);
    }
    let datatype = onnx_datatype(tensor.elem_type).ok_or_else(|| {
        EngineError::Model(format!(
            "`{}` has ONNX element type {}, which OIP cannot carry",
            value.name, tensor.elem_type
        ))
    })?;
    let shape = shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Dim::DimValue(n)) if n > 0 => n,
            _ => -1,
        })
        .collect();
    Ok(Some(TensorMetadata { name: value.name.clone(), datatype, shape }))
}

/// The operator types used anywhere in `graph` (subgraphs of `If`/`Loop`/`Scan` included) that `register` has no
/// builder for, sorted and deduplicated.
pub(crate) fn unsupported_operators(graph: &GraphProto, register: &OnnxOpRegister) -> Vec<String> {
    let mut missing = BTreeSet::new();
    collect_unsupported(graph, register, &mut missing);
    missing.into_iter().collect()
}

/// Walks `graph` and its subgraphs, adding unknown operator types to `missing`.
fn collect_unsupported(graph: &GraphProto, register: &OnnxOpRegister, missing: &mut BTreeSet<String>) {
    for node in &graph.node {
        if !register.0.contains_key(&node.op_type) {
            missing.insert(node.op_type.clone());
        }
        for attribute in &node.attribute {
            for sub in attribute.g.iter().chain(&attribute.graphs) {
                collect_unsupported(sub, register, missing);
            }
        }
    }
}

/// An ONNX file's declared signature, read without loading it into an engine (what the model registry records
/// at push). Values whose type is not declared are left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Signature {
    /// Graph inputs, initializers excluded.
    pub inputs: Vec<TensorMetadata>,
    /// Graph outputs.
    pub outputs: Vec<TensorMetadata>,
}

/// Decodes `bytes` as an ONNX `ModelProto` and returns its signature; [`EngineError::Decode`] when the bytes are
/// not an ONNX model.
pub fn signature(bytes: &[u8]) -> Result<Signature, EngineError> {
    use tract_onnx::prelude::Framework as _;
    let proto =
        tract_onnx::onnx().proto_model_for_read(&mut &*bytes).map_err(|e| EngineError::Decode(format!("{e:#}")))?;
    let graph = proto.graph.as_ref().ok_or_else(|| EngineError::Decode("the model has no graph".into()))?;
    let declared = |values: Vec<&ValueInfoProto>| -> Result<Vec<TensorMetadata>, EngineError> {
        Ok(values.into_iter().map(value_metadata).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    };
    Ok(Signature { inputs: declared(graph_inputs(graph))?, outputs: declared(graph.output.iter().collect())? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::read;

    #[test]
    fn signature_reads_declared_inputs_and_outputs() {
        let sig = signature(&read("mnist_cnn.onnx")).unwrap();
        assert_eq!(sig.inputs.len(), 1);
        assert_eq!(sig.inputs[0].datatype, Datatype::F32);
        assert_eq!(sig.inputs[0].shape[1..], [1, 28, 28]);
        assert_eq!(sig.outputs.len(), 1);
        assert_eq!(sig.outputs[0].shape.last(), Some(&10));
    }

    #[test]
    fn signature_refuses_bytes_that_are_not_onnx() {
        let e = signature(b"PK\x03\x04 a zip file, not a model").unwrap_err();
        assert!(matches!(e, EngineError::Decode(_)), "{e}");
    }
}

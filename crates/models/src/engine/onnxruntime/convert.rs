//! [`Shaped`] ↔ ort values. Inputs are moved into tensors built from `(shape, Vec)` (no `ndarray`); outputs are
//! copied out with the shape onnxruntime gives them. Every OIP datatype onnxruntime supports is carried: the
//! numeric types, BOOL, FP16 (through `half`, as bits on the OIP side) and BYTES as string tensors (UTF-8 only).

use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use tract_onnx::prelude::f16;

use super::super::{EngineError, Shaped, input_error};
use crate::oip::{Datatype, TensorData, TensorMetadata};

/// The OIP datatype of an onnxruntime element type; `None` for those OIP cannot carry (bfloat16, complex, float8,
/// 4- and 2-bit types).
pub(super) fn oip_datatype(ty: TensorElementType) -> Option<Datatype> {
    Some(match ty {
        TensorElementType::Bool => Datatype::Bool,
        TensorElementType::Uint8 => Datatype::U8,
        TensorElementType::Uint16 => Datatype::U16,
        TensorElementType::Uint32 => Datatype::U32,
        TensorElementType::Uint64 => Datatype::U64,
        TensorElementType::Int8 => Datatype::I8,
        TensorElementType::Int16 => Datatype::I16,
        TensorElementType::Int32 => Datatype::I32,
        TensorElementType::Int64 => Datatype::I64,
        TensorElementType::Float16 => Datatype::F16,
        TensorElementType::Float32 => Datatype::F32,
        TensorElementType::Float64 => Datatype::F64,
        TensorElementType::String => Datatype::Bytes,
        _ => return None,
    })
}

/// Builds the value of input `meta` from `input`, whose shape has already been checked against the model's;
/// checks the datatype and the element count.
pub(super) fn to_value(meta: &TensorMetadata, input: Shaped) -> Result<DynValue, EngineError> {
    let Shaped { shape, data } = input;
    if data.datatype() != meta.datatype {
        let message = format!("datatype {} given, the model takes {}", data.datatype(), meta.datatype);
        return Err(input_error(meta, message));
    }
    let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if elements != Some(data.len()) {
        let message = format!("{} elements given for shape {shape:?}", data.len());
        return Err(input_error(meta, message));
    }
    let value = match data {
        TensorData::Bool(v) => tensor(shape, v),
        TensorData::U8(v) => tensor(shape, v),
        TensorData::U16(v) => tensor(shape, v),
        TensorData::U32(v) => tensor(shape, v),
        TensorData::U64(v) => tensor(shape, v),
        TensorData::I8(v) => tensor(shape, v),
        TensorData::I16(v) => tensor(shape, v),
        TensorData::I32(v) => tensor(shape, v),
        TensorData::I64(v) => tensor(shape, v),
        TensorData::F16(v) => tensor(shape, v.into_iter().map(f16::from_bits).collect()),
        TensorData::F32(v) => tensor(shape, v),
        TensorData::F64(v) => tensor(shape, v),
        TensorData::Bytes(v) => {
            let strings = v.into_iter().map(String::from_utf8).collect::<Result<Vec<_>, _>>();
            let strings = strings.map_err(|_| input_error(meta, "BYTES elements must be UTF-8 for onnxruntime"))?;
            Tensor::from_string_array((shape, strings.as_slice())).map(Tensor::into_dyn).map_err(|e| e.to_string())
        }
    };
    value.map_err(|e| input_error(meta, e))
}

/// Moves `v` into a tensor of `shape`.
fn tensor<T>(shape: Vec<usize>, v: Vec<T>) -> Result<DynValue, String>
where
    T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static,
{
    Tensor::from_array((shape, v)).map(Tensor::into_dyn).map_err(|e| e.to_string())
}

/// Copies output `name` out of `value`: a tensor of an OIP datatype, else an error naming the output (a sequence
/// or map, e.g. ZipMap's, is [`EngineError::Model`]).
pub(super) fn from_value(name: &str, value: &DynValue) -> Result<Shaped, EngineError> {
    let error = |message: String| EngineError::Output { output: name.to_owned(), message };
    let ValueType::Tensor { ty, shape, .. } = value.dtype() else {
        return Err(not_a_tensor("output", name, value.dtype()));
    };
    let shape = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| error(format!("negative dimension in shape {shape:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let ort = |e: ort::Error| error(e.to_string());
    let data = match ty {
        TensorElementType::Bool => TensorData::Bool(slice(value).map_err(ort)?),
        TensorElementType::Uint8 => TensorData::U8(slice(value).map_err(ort)?),
        TensorElementType::Uint16 => TensorData::U16(slice(value).map_err(ort)?),
        TensorElementType::Uint32 => TensorData::U32(slice(value).map_err(ort)?),
        TensorElementType::Uint64 => TensorData::U64(slice(value).map_err(ort)?),
        TensorElementType::Int8 => TensorData::I8(slice(value).map_err(ort)?),
        TensorElementType::Int16 => TensorData::I16(slice(value).map_err(ort)?),
        TensorElementType::Int32 => TensorData::I32(slice(value).map_err(ort)?),
        TensorElementType::Int64 => TensorData::I64(slice(value).map_err(ort)?),
        TensorElementType::Float16 => {
            TensorData::F16(slice::<f16>(value).map_err(ort)?.into_iter().map(f16::to_bits).collect())
        }
        TensorElementType::Float32 => TensorData::F32(slice(value).map_err(ort)?),
        TensorElementType::Float64 => TensorData::F64(slice(value).map_err(ort)?),
        TensorElementType::String => {
            let (_, strings) = value.try_extract_strings().map_err(ort)?;
            TensorData::Bytes(strings.into_iter().map(String::into_bytes).collect())
        }
        other => return Err(error(format!("element type {other}, which OIP cannot carry"))),
    };
    Ok(Shaped { shape, data })
}

/// The elements of a tensor value of element type `T`, copied.
fn slice<T: ort::value::PrimitiveTensorElementType + Clone>(value: &DynValue) -> Result<Vec<T>, ort::Error> {
    value.try_extract_tensor::<T>().map(|(_, data)| data.to_vec())
}

/// The error for a model `what` (`"input"`, `"output"`) that is not a tensor (ZipMap's sequence of maps, a map,
/// an optional).
pub(super) fn not_a_tensor(what: &str, name: &str, dtype: &ValueType) -> EngineError {
    EngineError::Model(format!(
        "{what} `{name}` is a {dtype}, not a tensor: OIP carries tensors only (for a ZipMap, export the model \
         without it, e.g. skl2onnx's zipmap=False)"
    ))
}

//! [`TensorData`] ↔ tract [`Tensor`]: inputs are moved (not copied) into tensors, with the batch dimension
//! padded up to a plan's size; outputs are copied back, trimmed to the rows asked for.

use tract_onnx::prelude::tract_ndarray::{ArrayD, IxDyn};
use tract_onnx::prelude::{Datum, DatumType, IntoTensor, PlainView, Tensor, f16};

use super::{EngineError, Shaped, input_error};
use crate::oip::{TensorData, TensorMetadata};

/// Builds the tensor of input `meta` from `data` of shape `shape` (`[rows, ...]`), padding the leading dimension
/// with zeros (`false`, empty strings) up to `padded_rows`.
pub(crate) fn to_tensor(
    meta: &TensorMetadata,
    data: TensorData,
    shape: &[usize],
    padded_rows: usize,
) -> Result<Tensor, EngineError> {
    if data.datatype() != meta.datatype {
        let message = format!("datatype {} given, the model takes {}", data.datatype(), meta.datatype);
        return Err(input_error(meta, message));
    }
    let elements: usize = shape.iter().product();
    if data.len() != elements {
        let message = format!("{} elements given for shape {:?} ({elements} expected)", data.len(), shape);
        return Err(input_error(meta, message));
    }
    let mut padded = shape.to_vec();
    if let Some(first) = padded.first_mut() {
        *first = padded_rows;
    }
    let total: usize = padded.iter().product();
    let tensor = match data {
        TensorData::Bool(v) => array(v, &padded, total),
        TensorData::U8(v) => array(v, &padded, total),
        TensorData::U16(v) => array(v, &padded, total),
        TensorData::U32(v) => array(v, &padded, total),
        TensorData::U64(v) => array(v, &padded, total),
        TensorData::I8(v) => array(v, &padded, total),
        TensorData::I16(v) => array(v, &padded, total),
        TensorData::I32(v) => array(v, &padded, total),
        TensorData::I64(v) => array(v, &padded, total),
        TensorData::F16(v) => array(v.into_iter().map(f16::from_bits).collect(), &padded, total),
        TensorData::F32(v) => array(v, &padded, total),
        TensorData::F64(v) => array(v, &padded, total),
        TensorData::Bytes(v) => {
            let strings = v.into_iter().map(String::from_utf8).collect::<Result<Vec<_>, _>>();
            let strings = strings.map_err(|_| input_error(meta, "BYTES elements must be UTF-8 for tract"))?;
            array(strings, &padded, total)
        }
    };
    tensor.map_err(|e| input_error(meta, e))
}

/// Moves `v`, padded with `T::default()` to `total` elements, into a tensor of `shape`.
fn array<T: Datum>(mut v: Vec<T>, shape: &[usize], total: usize) -> Result<Tensor, String> {
    v.resize(total, T::default());
    ArrayD::from_shape_vec(IxDyn(shape), v).map(IntoTensor::into_tensor).map_err(|e| e.to_string())
}

/// Copies the first `rows` rows of output `name` (a tensor whose leading dimension is `plan_rows`) out of
/// `tensor`; returns the trimmed shape and data. Without padding (`rows == plan_rows`) any shape is accepted.
pub(crate) fn from_tensor(name: &str, tensor: &Tensor, rows: usize, plan_rows: usize) -> Result<Shaped, EngineError> {
    let error = |message: String| EngineError::Output { output: name.to_owned(), message };
    let mut shape = tensor.shape().to_vec();
    if rows != plan_rows {
        if shape.first() != Some(&plan_rows) {
            return Err(error(format!("shape {shape:?} has no batch dimension of {plan_rows} to trim")));
        }
        shape[0] = rows;
    }
    let n: usize = shape.iter().product();
    let view = tensor.try_as_plain_ram().map_err(|e| error(format!("{e:#}")))?;
    let data = convert(&view, n).map_err(error)?;
    Ok(Shaped { shape, data })
}

/// The first `n` elements of `view` as [`TensorData`] of the matching datatype.
fn convert(view: &PlainView<'_>, n: usize) -> Result<TensorData, String> {
    Ok(match view.datum_type() {
        DatumType::Bool => TensorData::Bool(slice(view, n)?),
        DatumType::U8 => TensorData::U8(slice(view, n)?),
        DatumType::U16 => TensorData::U16(slice(view, n)?),
        DatumType::U32 => TensorData::U32(slice(view, n)?),
        DatumType::U64 => TensorData::U64(slice(view, n)?),
        DatumType::I8 => TensorData::I8(slice(view, n)?),
        DatumType::I16 => TensorData::I16(slice(view, n)?),
        DatumType::I32 => TensorData::I32(slice(view, n)?),
        DatumType::I64 => TensorData::I64(slice(view, n)?),
        DatumType::F16 => TensorData::F16(slice::<f16>(view, n)?.into_iter().map(f16::to_bits).collect()),
        DatumType::F32 => TensorData::F32(slice(view, n)?),
        DatumType::F64 => TensorData::F64(slice(view, n)?),
        DatumType::String => TensorData::Bytes(slice::<String>(view, n)?.into_iter().map(String::into_bytes).collect()),
        other => return Err(format!("datatype {other:?} has no OIP equivalent")),
    })
}

/// The first `n` elements of `view` as a vector of `T`.
fn slice<T: Datum>(view: &PlainView<'_>, n: usize) -> Result<Vec<T>, String> {
    let all = view.as_slice::<T>().map_err(|e| format!("{e:#}"))?;
    all.get(..n).map(<[T]>::to_vec).ok_or_else(|| format!("{} elements, {n} expected", all.len()))
}

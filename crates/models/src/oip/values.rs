//! JSON `data` ↔ [`TensorData`]: flattening nested arrays, checking every element against the datatype (integers
//! in range, booleans, strings or `{"b64": ...}` for BYTES), and serializing data back as a flat JSON array.
//!
//! Output encoding: FP16 as numbers; non-finite floats become `null` (JSON has no NaN); a BYTES element that is
//! valid UTF-8 becomes a string, any other becomes `{"b64": "<standard base64>"}`, the form the decoder accepts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::Value;

use super::datatype::Datatype;
use super::error::OipError;
use super::f16::{f16_to_f32, f32_to_f16};
use super::tensor::TensorData;

/// Flattens nested arrays in row-major order; a non-array value counts as one element.
pub(crate) fn flatten(data: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            other => out.push(other),
        }
    }
    out
}

/// A short rendering of a JSON value for error messages.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 { format!("{}...", s.chars().take(40).collect::<String>()) } else { s }
}

/// Converts flattened JSON elements to typed data; `input` names the tensor in errors.
pub(crate) fn from_json(input: &str, datatype: Datatype, values: &[&Value]) -> Result<TensorData, OipError> {
    let err = |index: usize, reason: String| OipError::Element { input: input.to_string(), index, datatype, reason };
    let ints =
        |index: usize, v: &Value| int_of(v).ok_or_else(|| err(index, format!("expected an integer, got {}", show(v))));
    macro_rules! int {
        ($t:ty) => {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let n = ints(i, v)?;
                    <$t>::try_from(n).map_err(|_| err(i, format!("{n} is out of range {}..={}", <$t>::MIN, <$t>::MAX)))
                })
                .collect::<Result<Vec<$t>, _>>()?
        };
    }
    let float = |i: usize, v: &Value| v.as_f64().ok_or_else(|| err(i, format!("expected a number, got {}", show(v))));
    Ok(match datatype {
        Datatype::Bool => TensorData::Bool(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| v.as_bool().ok_or_else(|| err(i, format!("expected true or false, got {}", show(v)))))
                .collect::<Result<_, _>>()?,
        ),
        Datatype::U8 => TensorData::U8(int!(u8)),
        Datatype::U16 => TensorData::U16(int!(u16)),
        Datatype::U32 => TensorData::U32(int!(u32)),
        Datatype::U64 => TensorData::U64(int!(u64)),
        Datatype::I8 => TensorData::I8(int!(i8)),
        Datatype::I16 => TensorData::I16(int!(i16)),
        Datatype::I32 => TensorData::I32(int!(i32)),
        Datatype::I64 => TensorData::I64(int!(i64)),
        Datatype::F16 => TensorData::F16(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let h = f32_to_f16(float(i, v)? as f32);
                    if h & 0x7fff == 0x7c00 {
                        return Err(err(i, format!("{} is out of range (max magnitude 65504)", show(v))));
                    }
                    Ok(h)
                })
                .collect::<Result<_, _>>()?,
        ),
        Datatype::F32 => TensorData::F32(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let x = float(i, v)? as f32;
                    if x.is_infinite() {
                        return Err(err(i, format!("{} is out of range for a 32-bit float", show(v))));
                    }
                    Ok(x)
                })
                .collect::<Result<_, _>>()?,
        ),
        Datatype::F64 => {
            TensorData::F64(values.iter().enumerate().map(|(i, v)| float(i, v)).collect::<Result<_, _>>()?)
        }
        Datatype::Bytes => TensorData::Bytes(
            values.iter().enumerate().map(|(i, v)| bytes_of(v).map_err(|r| err(i, r))).collect::<Result<_, _>>()?,
        ),
    })
}

/// An integer value; integral floats (`3.0`) within ±2^53 count, fractions do not.
fn int_of(v: &Value) -> Option<i128> {
    if let Some(i) = v.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = v.as_u64() {
        return Some(i128::from(u));
    }
    let f = v.as_f64()?;
    (f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).then_some(f as i128)
}

fn bytes_of(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(map) if map.len() == 1 => match map.get("b64") {
            Some(Value::String(s)) => B64.decode(s).map_err(|e| format!("\"b64\" is not valid base64: {e}")),
            _ => Err(format!("expected a string or {{\"b64\": \"...\"}}, got {}", show(v))),
        },
        _ => Err(format!("expected a string or {{\"b64\": \"...\"}}, got {}", show(v))),
    }
}

/// One BYTES element as JSON: a string when UTF-8, else `{"b64": ...}`.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum BytesElem<'a> {
    Text(&'a str),
    B64 { b64: String },
}

impl Serialize for TensorData {
    /// A flat JSON array (see the module docs for FP16, non-finite floats and BYTES).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        macro_rules! all {
            ($v:expr) => {
                for x in $v {
                    seq.serialize_element(&x)?;
                }
            };
        }
        match self {
            Self::Bool(v) => all!(v),
            Self::U8(v) => all!(v),
            Self::U16(v) => all!(v),
            Self::U32(v) => all!(v),
            Self::U64(v) => all!(v),
            Self::I8(v) => all!(v),
            Self::I16(v) => all!(v),
            Self::I32(v) => all!(v),
            Self::I64(v) => all!(v),
            Self::F16(v) => all!(v.iter().map(|&h| f16_to_f32(h))),
            Self::F32(v) => all!(v),
            Self::F64(v) => all!(v),
            Self::Bytes(v) => all!(v.iter().map(|b| match std::str::from_utf8(b) {
                Ok(text) => BytesElem::Text(text),
                Err(_) => BytesElem::B64 { b64: B64.encode(b) },
            })),
        }
        seq.end()
    }
}

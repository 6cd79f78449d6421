//! [`TensorData`]: typed, row-major tensor contents, and their little-endian layout in the binary data extension
//! (BOOL = 1 byte; BYTES elements = 4-byte LE length + bytes).

use super::datatype::Datatype;

/// A tensor's elements, flattened in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// `BOOL`.
    Bool(Vec<bool>),
    /// `UINT8`.
    U8(Vec<u8>),
    /// `UINT16`.
    U16(Vec<u16>),
    /// `UINT32`.
    U32(Vec<u32>),
    /// `UINT64`.
    U64(Vec<u64>),
    /// `INT8`.
    I8(Vec<i8>),
    /// `INT16`.
    I16(Vec<i16>),
    /// `INT32`.
    I32(Vec<i32>),
    /// `INT64`.
    I64(Vec<i64>),
    /// `FP16`, as raw IEEE half bits (see [`super::f16_to_f32`]).
    F16(Vec<u16>),
    /// `FP32`.
    F32(Vec<f32>),
    /// `FP64`.
    F64(Vec<f64>),
    /// `BYTES`, one byte string per element.
    Bytes(Vec<Vec<u8>>),
}

/// Applies `$body` to the vector inside any variant.
macro_rules! with_vec {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::Bool($v) => $body,
            TensorData::U8($v) => $body,
            TensorData::U16($v) => $body,
            TensorData::U32($v) => $body,
            TensorData::U64($v) => $body,
            TensorData::I8($v) => $body,
            TensorData::I16($v) => $body,
            TensorData::I32($v) => $body,
            TensorData::I64($v) => $body,
            TensorData::F16($v) => $body,
            TensorData::F32($v) => $body,
            TensorData::F64($v) => $body,
            TensorData::Bytes($v) => $body,
        }
    };
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        with_vec!(self, v => v.len())
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The datatype these elements belong to.
    pub fn datatype(&self) -> Datatype {
        match self {
            Self::Bool(_) => Datatype::Bool,
            Self::U8(_) => Datatype::U8,
            Self::U16(_) => Datatype::U16,
            Self::U32(_) => Datatype::U32,
            Self::U64(_) => Datatype::U64,
            Self::I8(_) => Datatype::I8,
            Self::I16(_) => Datatype::I16,
            Self::I32(_) => Datatype::I32,
            Self::I64(_) => Datatype::I64,
            Self::F16(_) => Datatype::F16,
            Self::F32(_) => Datatype::F32,
            Self::F64(_) => Datatype::F64,
            Self::Bytes(_) => Datatype::Bytes,
        }
    }

    /// No elements, of `datatype`.
    pub fn empty(datatype: Datatype) -> Self {
        match datatype {
            Datatype::Bool => Self::Bool(Vec::new()),
            Datatype::U8 => Self::U8(Vec::new()),
            Datatype::U16 => Self::U16(Vec::new()),
            Datatype::U32 => Self::U32(Vec::new()),
            Datatype::U64 => Self::U64(Vec::new()),
            Datatype::I8 => Self::I8(Vec::new()),
            Datatype::I16 => Self::I16(Vec::new()),
            Datatype::I32 => Self::I32(Vec::new()),
            Datatype::I64 => Self::I64(Vec::new()),
            Datatype::F16 => Self::F16(Vec::new()),
            Datatype::F32 => Self::F32(Vec::new()),
            Datatype::F64 => Self::F64(Vec::new()),
            Datatype::Bytes => Self::Bytes(Vec::new()),
        }
    }

    /// Appends `other`'s elements; an error when the datatypes differ.
    pub fn extend(&mut self, other: TensorData) -> Result<(), String> {
        macro_rules! join {
            ($($variant:ident),*) => {
                match (self, other) {
                    $((Self::$variant(a), Self::$variant(b)) => {
                        a.extend(b);
                        Ok(())
                    })*
                    (a, b) => Err(format!("cannot join {} elements to {} elements", b.datatype(), a.datatype())),
                }
            };
        }
        join!(Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, F32, F64, Bytes)
    }

    /// Elements `start..end`; an error when the range is out of bounds.
    pub fn slice(&self, start: usize, end: usize) -> Result<TensorData, String> {
        let len = self.len();
        if start > end || end > len {
            return Err(format!("elements {start}..{end} are out of range for a tensor of {len}"));
        }
        macro_rules! cut {
            ($($variant:ident),*) => {
                match self {
                    $(Self::$variant(v) => Self::$variant(v[start..end].to_vec()),)*
                }
            };
        }
        Ok(cut!(Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, F32, F64, Bytes))
    }

    /// Size of the binary-extension encoding, in bytes.
    pub fn byte_len(&self) -> usize {
        match (self, self.datatype().size_bytes()) {
            (Self::Bytes(v), _) => v.iter().map(|b| 4 + b.len()).sum(),
            (_, Some(size)) => self.len() * size,
            (_, None) => 0,
        }
    }

    /// The binary-extension encoding: little-endian, row-major.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        match self {
            Self::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
            Self::U8(v) => out.extend_from_slice(v),
            Self::U16(v) | Self::F16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::U32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::U64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::I8(v) => out.extend(v.iter().map(|x| x.to_le_bytes()[0])),
            Self::I16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::Bytes(v) => v.iter().for_each(|b| {
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }),
        }
        out
    }

    /// Decodes `count` elements of `datatype` from exactly `bytes`; the error says what does not add up.
    pub fn from_le_bytes(datatype: Datatype, bytes: &[u8], count: u64) -> Result<Self, String> {
        let Some(size) = datatype.size_bytes() else { return bytes_elements(bytes, count).map(Self::Bytes) };
        let need = count.checked_mul(size as u64);
        if need != Some(bytes.len() as u64) {
            let need = need.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
            return Err(format!(
                "binary_data_size is {} but {count} {datatype} elements need {need} bytes",
                bytes.len()
            ));
        }
        Ok(match datatype {
            Datatype::Bool => Self::Bool(bools(bytes)?),
            Datatype::U8 => Self::U8(bytes.to_vec()),
            Datatype::U16 => Self::U16(le(bytes, u16::from_le_bytes)),
            Datatype::U32 => Self::U32(le(bytes, u32::from_le_bytes)),
            Datatype::U64 => Self::U64(le(bytes, u64::from_le_bytes)),
            Datatype::I8 => Self::I8(le(bytes, i8::from_le_bytes)),
            Datatype::I16 => Self::I16(le(bytes, i16::from_le_bytes)),
            Datatype::I32 => Self::I32(le(bytes, i32::from_le_bytes)),
            Datatype::I64 => Self::I64(le(bytes, i64::from_le_bytes)),
            Datatype::F16 => Self::F16(le(bytes, u16::from_le_bytes)),
            Datatype::F32 => Self::F32(le(bytes, f32::from_le_bytes)),
            Datatype::F64 => Self::F64(le(bytes, f64::from_le_bytes)),
            Datatype::Bytes => Self::Bytes(bytes_elements(bytes, count)?),
        })
    }
}

fn le<T, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}

fn bools(bytes: &[u8]) -> Result<Vec<bool>, String> {
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| match b {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(format!("BOOL element {i} is byte {b}; BOOL bytes must be 0 or 1")),
        })
        .collect()
}

fn bytes_elements(mut bytes: &[u8], count: u64) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let index = out.len();
        if out.len() as u64 >= count {
            return Err(format!("{} bytes remain after the {count} BYTES elements the shape needs", bytes.len()));
        }
        let Some((head, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(format!("BYTES element {index}: {} bytes left, too few for its 4-byte length", bytes.len()));
        };
        let len = u32::from_le_bytes(*head) as usize;
        if rest.len() < len {
            return Err(format!("BYTES element {index} declares {len} bytes but only {} remain", rest.len()));
        }
        let (elem, rest) = rest.split_at(len);
        out.push(elem.to_vec());
        bytes = rest;
    }
    if out.len() as u64 != count {
        return Err(format!("the shape needs {count} BYTES elements, the binary data holds {}", out.len()));
    }
    Ok(out)
}

//! [`Datatype`]: the 13 OIP v2 tensor element types, their wire names and element sizes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An OIP v2 tensor element type, serialized as its wire name (`"FP32"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Datatype {
    /// `BOOL`, one byte (0 or 1) in the binary extension.
    Bool,
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `UINT64`.
    U64,
    /// `INT8`.
    I8,
    /// `INT16`.
    I16,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP16`, IEEE 754 half precision.
    F16,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
    /// `BYTES`, variable-length byte strings.
    Bytes,
}

impl Datatype {
    /// All 13 datatypes, in the spec's table order.
    pub const ALL: [Datatype; 13] = [
        Self::Bool,
        Self::U8,
        Self::U16,
        Self::U32,
        Self::U64,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::F16,
        Self::F32,
        Self::F64,
        Self::Bytes,
    ];

    /// The wire name, e.g. `"FP32"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bool => "BOOL",
            Self::U8 => "UINT8",
            Self::U16 => "UINT16",
            Self::U32 => "UINT32",
            Self::U64 => "UINT64",
            Self::I8 => "INT8",
            Self::I16 => "INT16",
            Self::I32 => "INT32",
            Self::I64 => "INT64",
            Self::F16 => "FP16",
            Self::F32 => "FP32",
            Self::F64 => "FP64",
            Self::Bytes => "BYTES",
        }
    }

    /// Bytes per element, `None` for `BYTES` (variable length).
    pub fn size_bytes(self) -> Option<usize> {
        match self {
            Self::Bool | Self::U8 | Self::I8 => Some(1),
            Self::U16 | Self::I16 | Self::F16 => Some(2),
            Self::U32 | Self::I32 | Self::F32 => Some(4),
            Self::U64 | Self::I64 | Self::F64 => Some(8),
            Self::Bytes => None,
        }
    }
}

impl fmt::Display for Datatype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Datatype> for &'static str {
    fn from(d: Datatype) -> Self {
        d.as_str()
    }
}

const VALID: &str = "BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES";

/// A datatype name that is not one of the 13; its message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown datatype \"{0}\"; expected one of {VALID}")]
pub struct UnknownDatatype(pub String);

impl FromStr for Datatype {
    type Err = UnknownDatatype;

    /// Parses a wire name; names are case-sensitive, as in the spec.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| UnknownDatatype(s.chars().take(64).collect()))
    }
}

impl TryFrom<String> for Datatype {
    type Error = UnknownDatatype;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sizes() {
        for d in Datatype::ALL {
            assert_eq!(d.as_str().parse::<Datatype>(), Ok(d));
            assert_eq!(serde_json::to_string(&d).ok(), Some(format!("\"{d}\"")));
        }
        assert_eq!(Datatype::F16.size_bytes(), Some(2));
        assert_eq!(Datatype::Bool.size_bytes(), Some(1));
        assert_eq!(Datatype::Bytes.size_bytes(), None);
    }

    #[test]
    fn unknown_lists_valid_names() {
        let err = "fp32".parse::<Datatype>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("\"fp32\"") && err.contains("FP32") && err.contains("BYTES"), "{err}");
    }
}

//! [`PrepError`]: every way pre- or post-processing can fail, with its HTTP status ([`PrepError::status`]).

/// Why an image could not be turned into a tensor, or scores into predictions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrepError {
    /// No bytes at all.
    #[error("image is empty")]
    Empty,
    /// Neither PNG/JPEG bytes nor base64 text of them.
    #[error("image is not PNG or JPEG data, nor base64 text of it: {0}")]
    NotAnImage(String),
    /// The bytes look like PNG/JPEG but cannot be decoded (corrupt, truncated, unsupported variant).
    #[error("image cannot be decoded: {0}")]
    Decode(String),
    /// The decoded image would have more pixels than allowed.
    #[error("image is {width}x{height} = {} pixels, more than the limit of {max_pixels}", u64::from(*.width) * u64::from(*.height))]
    TooLarge {
        /// Width in pixels, from the header.
        width: u32,
        /// Height in pixels, from the header.
        height: u32,
        /// The configured limit.
        max_pixels: u64,
    },
    /// The [`ImageSpec`](super::ImageSpec) cannot be applied (bad size, mean/std length, zero std).
    #[error("invalid image spec: {0}")]
    InvalidSpec(String),
    /// The scores do not fit the post-processing (empty rows, length not a multiple of the class count).
    #[error("cannot post-process scores: {0}")]
    Scores(String),
}

impl PrepError {
    /// The HTTP status to answer with: 413 for [`PrepError::TooLarge`], 500 for scores that do not fit (a
    /// model/config mismatch, not the client's fault), else 400.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::Scores(_) => 500,
            _ => 400,
        }
    }
}

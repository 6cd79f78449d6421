//! [`decode_image`]: PNG/JPEG bytes, or base64 text of them, to a [`DynamicImage`], refusing images over a pixel
//! limit before their pixels are allocated.

use std::io::Cursor;

use base64::Engine as _;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::PrepError;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted `width * height`, checked from the header before decoding. Default 64 megapixels.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_pixels: 64 * 1024 * 1024 }
    }
}

/// [`decode_image_with`] under [`DecodeLimits::default`].
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage, PrepError> {
    decode_image_with(bytes, &DecodeLimits::default())
}

/// Decodes a PNG or JPEG image.
///
/// `bytes` is either the image file itself (recognised by its magic bytes) or base64 text of one (standard or
/// URL-safe alphabet, padding optional, whitespace ignored), optionally behind a `data:image/...;base64,` prefix.
/// Errors: [`PrepError::Empty`], [`PrepError::NotAnImage`], [`PrepError::Decode`] (corrupt or truncated),
/// [`PrepError::TooLarge`].
pub fn decode_image_with(bytes: &[u8], limits: &DecodeLimits) -> Result<DynamicImage, PrepError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PrepError::Empty);
    }
    if let Some(format) = sniff(bytes) {
        return decode_raw(bytes, format, limits);
    }
    let raw = from_base64(bytes)?;
    match sniff(&raw) {
        Some(format) => decode_raw(&raw, format, limits),
        None => Err(PrepError::NotAnImage("base64 text decodes to neither PNG nor JPEG".into())),
    }
}

/// The format named by the magic bytes, if PNG or JPEG.
fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(PNG_MAGIC) {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(JPEG_MAGIC) {
        Some(ImageFormat::Jpeg)
    } else {
        None
    }
}

/// Decodes base64 text, after an optional `data:<mime>;base64,` prefix.
fn from_base64(bytes: &[u8]) -> Result<Vec<u8>, PrepError> {
    let mut text: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if text.len() >= 5 && text[..5].eq_ignore_ascii_case(b"data:") {
        let Some(comma) = text.iter().position(|&b| b == b',') else {
            return Err(PrepError::NotAnImage("data: URL without a comma".into()));
        };
        if !text[..comma].to_ascii_lowercase().ends_with(b";base64") {
            return Err(PrepError::NotAnImage("data: URL is not base64-encoded".into()));
        }
        text.drain(..=comma);
    }
    while text.last() == Some(&b'=') {
        text.pop();
    }
    let engines = [base64::engine::general_purpose::STANDARD_NO_PAD, base64::engine::general_purpose::URL_SAFE_NO_PAD];
    engines
        .iter()
        .find_map(|engine| engine.decode(&text).ok())
        .ok_or_else(|| PrepError::NotAnImage("not PNG/JPEG magic bytes and not valid base64".into()))
}

fn decode_raw(bytes: &[u8], format: ImageFormat, limits: &DecodeLimits) -> Result<DynamicImage, PrepError> {
    let reader = || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut lim = Limits::default();
        // Room for the largest accepted image at 16-bit RGBA, plus decoder scratch.
        lim.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(16 << 20));
        reader.limits(lim);
        reader
    };
    let (width, height) = reader().into_dimensions().map_err(decode_error)?;
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(PrepError::TooLarge { width, height, max_pixels: limits.max_pixels });
    }
    reader().decode().map_err(decode_error)
}

fn decode_error(err: image::ImageError) -> PrepError {
    PrepError::Decode(err.to_string())
}

//! [`to_tensor`]: a decoded image to an `f32` tensor per an [`ImageSpec`].

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Pixel};

use super::{Color, ImageSpec, Layout, PrepError};

/// A single-image input tensor: row-major `data` of `shape` (`[1, C, H, W]` or `[1, H, W, C]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTensor {
    /// The values, row-major.
    pub data: Vec<f32>,
    /// `[1, C, H, W]` for [`Layout::Nchw`], `[1, H, W, C]` for [`Layout::Nhwc`].
    pub shape: [usize; 4],
}

/// Converts `img` to a tensor per `spec`.
///
/// Steps: convert to 8-bit [`ImageSpec::color`] (alpha is dropped, not composited; 16-bit images are reduced to
/// 8 bits), resize to [`ImageSpec::size`] with [`FilterType::Triangle`] (bilinear, widened when shrinking; skipped
/// when the size already matches), then `v = (pixel * scale - mean[c]) / std[c]`, then lay out.
/// Errors only for a spec that fails [`ImageSpec::validate`].
pub fn to_tensor(img: &DynamicImage, spec: &ImageSpec) -> Result<ImageTensor, PrepError> {
    spec.validate().map_err(PrepError::InvalidSpec)?;
    let mean = spec.per_channel("mean", spec.mean.as_deref(), 0.0).map_err(PrepError::InvalidSpec)?;
    let std = spec.per_channel("std", spec.std.as_deref(), 1.0).map_err(PrepError::InvalidSpec)?;
    // Interleaved (HWC) 8-bit pixels in the model's channel order.
    let (width, height, pixels) = match spec.color {
        Color::Gray => {
            let gray = resized(img.to_luma8(), spec.size);
            (gray.width(), gray.height(), gray.into_raw())
        }
        Color::Rgb | Color::Bgr => {
            let rgb = resized(img.to_rgb8(), spec.size);
            let (w, h) = rgb.dimensions();
            let mut raw = rgb.into_raw();
            if spec.color == Color::Bgr {
                raw.chunks_exact_mut(3).for_each(|px| px.swap(0, 2));
            }
            (w, h, raw)
        }
    };
    let (w, h, c) = (width as usize, height as usize, spec.color.channels());
    let value = |p: u8, ch: usize| (f32::from(p) * spec.scale - mean[ch]) / std[ch];
    let data = match spec.layout {
        Layout::Nhwc => pixels.iter().enumerate().map(|(i, &p)| value(p, i % c)).collect(),
        Layout::Nchw => {
            let mut data = Vec::with_capacity(pixels.len());
            for ch in 0..c {
                data.extend(pixels.iter().skip(ch).step_by(c).map(|&p| value(p, ch)));
            }
            data
        }
    };
    let shape = match spec.layout {
        Layout::Nchw => [1, c, h, w],
        Layout::Nhwc => [1, h, w, c],
    };
    Ok(ImageTensor { data, shape })
}

/// Resizes when `size` is given and differs from the image's.
fn resized<P>(buf: ImageBuffer<P, Vec<P::Subpixel>>, size: Option<(u32, u32)>) -> ImageBuffer<P, Vec<P::Subpixel>>
where
    P: Pixel + 'static,
{
    match size {
        Some((w, h)) if (w, h) != buf.dimensions() => imageops::resize(&buf, w, h, FilterType::Triangle),
        _ => buf,
    }
}

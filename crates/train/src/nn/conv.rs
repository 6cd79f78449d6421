//! 3×3 convolution (stride 1, padding 1, so height and width are kept) by im2col, and 2×2 max pooling.
//!
//! **im2col**: for one image `[C, H, W]`, the matrix `cols[C·9, H·W]` whose column `p` holds the 3×3 patch around
//! pixel `p` (zeros outside the image). The convolution is then one product `W[O, C·9] · cols = y[O, H·W]`, its
//! weight gradient `dy · colsᵀ`, and its input gradient `Wᵀ · dy` folded back onto the image (col2im), which
//! turns the layer into the three products of [`super::tensor`]. Tensors are NCHW, as ONNX's `Conv` takes them.

use super::layers::Cache;
use super::rng::Rng;
use super::tensor::{Tensor, matmul, matmul_at, matmul_bt};

/// A 3×3 convolution with padding 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// `out × in × 3 × 3` weights (ONNX's `[M, C, kH, kW]`), then `out` biases.
    pub params: Vec<f32>,
}

/// Taps per filter and input channel.
const K: usize = 9;

impl Conv2d {
    /// He-initialised filters (normal, variance 2 / (in · 9)), zero biases.
    pub fn new(in_channels: usize, out_channels: usize, rng: &mut Rng) -> Self {
        let fan_in = in_channels * K;
        let std = (2.0 / fan_in as f64).sqrt();
        let mut params: Vec<f32> = (0..out_channels * fan_in).map(|_| (rng.normal() * std) as f32).collect();
        params.resize(out_channels * fan_in + out_channels, 0.0);
        Self { in_channels, out_channels, params }
    }

    /// The filters, `out × (in · 9)`.
    pub fn weights(&self) -> &[f32] {
        &self.params[..self.out_channels * self.in_channels * K]
    }

    /// The biases.
    pub fn bias(&self) -> &[f32] {
        &self.params[self.out_channels * self.in_channels * K..]
    }

    pub(super) fn forward(&self, x: Tensor, keep: bool) -> (Tensor, Cache) {
        let (n, c, h, w) = dims(&x.shape);
        assert_eq!(c, self.in_channels, "conv input channels");
        let (rows, hw, o) = (c * K, h * w, self.out_channels);
        let mut y = Tensor::zeros(vec![n, o, h, w]);
        let mut kept = if keep { Vec::with_capacity(n * rows * hw) } else { Vec::new() };
        let mut cols = vec![0.0; rows * hw];
        for (item, out) in y.data.chunks_exact_mut(o * hw).enumerate() {
            im2col(x.item(item), c, h, w, &mut cols);
            for (plane, b) in out.chunks_exact_mut(hw).zip(self.bias()) {
                plane.fill(*b);
            }
            matmul(self.weights(), &cols, out, o, rows, hw);
            if keep {
                kept.extend_from_slice(&cols);
            }
        }
        let cache = if keep { Cache::Columns(kept, x.shape) } else { Cache::None };
        (y, cache)
    }

    pub(super) fn backward(
        &self,
        cols: &[f32],
        shape: &[usize],
        dy: &Tensor,
        grad: &mut [f32],
        input_grad: bool,
    ) -> Option<Tensor> {
        let (n, c, h, w) = dims(shape);
        let (rows, hw, o) = (c * K, h * w, self.out_channels);
        let (dw, db) = grad.split_at_mut(o * rows);
        let mut dx = input_grad.then(|| Tensor::zeros(shape.to_vec()));
        let mut dcols = vec![0.0; rows * hw];
        for item in 0..n {
            let (d, col) = (dy.item(item), &cols[item * rows * hw..(item + 1) * rows * hw]);
            matmul_bt(d, col, dw, o, hw, rows);
            for (b, plane) in db.iter_mut().zip(d.chunks_exact(hw)) {
                *b += plane.iter().sum::<f32>();
            }
            if let Some(dx) = &mut dx {
                dcols.fill(0.0);
                matmul_at(self.weights(), d, &mut dcols, rows, o, hw);
                col2im(&dcols, c, h, w, &mut dx.data[item * c * hw..(item + 1) * c * hw]);
            }
        }
        dx
    }
}

fn dims(shape: &[usize]) -> (usize, usize, usize, usize) {
    assert_eq!(shape.len(), 4, "an NCHW tensor, got shape {shape:?}");
    (shape[0], shape[1], shape[2], shape[3])
}

/// The source pixel of tap `k` (0..3) for output coordinate `at` with padding 1, if inside `0..len`.
fn source(at: usize, k: usize, len: usize) -> Option<usize> {
    (at + k).checked_sub(1).filter(|s| *s < len)
}

/// `image[C, H, W]` → `cols[C·9, H·W]`: row `c·9 + ky·3 + kx` holds pixel `(y+ky−1, x+kx−1)` of channel `c` for
/// each output pixel `(y, x)`.
fn im2col(image: &[f32], c: usize, h: usize, w: usize, cols: &mut [f32]) {
    let hw = h * w;
    for ch in 0..c {
        let plane = &image[ch * hw..(ch + 1) * hw];
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &mut cols[(ch * K + ky * 3 + kx) * hw..][..hw];
                for y in 0..h {
                    let out = &mut row[y * w..(y + 1) * w];
                    let Some(sy) = source(y, ky, h) else {
                        out.fill(0.0);
                        continue;
                    };
                    let src = &plane[sy * w..(sy + 1) * w];
                    // Output x reads source x + kx − 1: a shifted copy with one zero at an edge.
                    match kx {
                        0 => {
                            out[0] = 0.0;
                            out[1..].copy_from_slice(&src[..w - 1]);
                        }
                        1 => out.copy_from_slice(src),
                        _ => {
                            out[..w - 1].copy_from_slice(&src[1..]);
                            out[w - 1] = 0.0;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry back onto the pixel it was copied from.
fn col2im(cols: &[f32], c: usize, h: usize, w: usize, image: &mut [f32]) {
    let hw = h * w;
    for ch in 0..c {
        let plane = &mut image[ch * hw..(ch + 1) * hw];
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &cols[(ch * K + ky * 3 + kx) * hw..][..hw];
                for y in 0..h {
                    let Some(sy) = source(y, ky, h) else { continue };
                    let from = &row[y * w..(y + 1) * w];
                    let to = &mut plane[sy * w..(sy + 1) * w];
                    let (to, from) = match kx {
                        0 => (&mut to[..w - 1], &from[1..]),
                        1 => (&mut to[..], from),
                        _ => (&mut to[1..], &from[..w - 1]),
                    };
                    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
                }
            }
        }
    }
}

/// 2×2 max pooling with stride 2 (an odd last row or column is dropped, as ONNX's `MaxPool` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaxPool2;

impl MaxPool2 {
    pub(super) fn forward(&self, x: Tensor, keep: bool) -> (Tensor, Cache) {
        let (n, c, h, w) = dims(&x.shape);
        let (oh, ow) = (h / 2, w / 2);
        let mut y = Tensor::zeros(vec![n, c, oh, ow]);
        let mut from = if keep { vec![0u32; y.data.len()] } else { Vec::new() };
        for plane in 0..n * c {
            let (src, base) = (&x.data[plane * h * w..(plane + 1) * h * w], plane * h * w);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best = (oy * 2 * w + ox * 2, f32::NEG_INFINITY);
                    for i in [0, 1, w, w + 1].map(|d| oy * 2 * w + ox * 2 + d) {
                        if src[i] > best.1 {
                            best = (i, src[i]);
                        }
                    }
                    let o = (plane * oh + oy) * ow + ox;
                    y.data[o] = best.1;
                    if keep {
                        from[o] = (base + best.0) as u32;
                    }
                }
            }
        }
        let cache = if keep { Cache::Argmax(from, x.shape) } else { Cache::None };
        (y, cache)
    }

    pub(super) fn backward(from: &[u32], shape: Vec<usize>, dy: &Tensor) -> Tensor {
        let mut dx = Tensor::zeros(shape);
        for (&i, d) in from.iter().zip(&dy.data) {
            dx.data[i as usize] += d;
        }
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im2col_holds_the_padded_patches() {
        // One 3×3 channel 1..9; the centre pixel's column is the whole image, a corner's has zeros.
        let image: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut cols = vec![0.0; K * 9];
        im2col(&image, 1, 3, 3, &mut cols);
        let column = |p: usize| (0..K).map(|r| cols[r * 9 + p]).collect::<Vec<_>>();
        assert_eq!(column(4), image);
        assert_eq!(column(0), [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 4.0, 5.0]);
    }

    #[test]
    fn a_centre_tap_filter_is_the_identity_and_pooling_takes_maxima() {
        let mut rng = Rng::new(1);
        let mut conv = Conv2d::new(1, 1, &mut rng);
        conv.params = vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5];
        let x = Tensor::new(vec![1, 1, 2, 4], vec![1.0, -2.0, 3.0, 0.0, 5.0, 4.0, -1.0, 2.0]);
        let (y, _) = conv.forward(x.clone(), false);
        assert_eq!(y.data, x.data.iter().map(|v| v + 0.5).collect::<Vec<_>>());
        let (p, cache) = MaxPool2.forward(x, true);
        assert_eq!((p.shape.as_slice(), p.data.as_slice()), ([1, 1, 1, 2].as_slice(), [5.0, 3.0].as_slice()));
        let Cache::Argmax(from, _) = cache else { panic!() };
        assert_eq!(from, [4, 2]);
    }
}

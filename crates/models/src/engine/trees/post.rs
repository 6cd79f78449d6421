//! The post_transform functions, in FP32 as onnxruntime's `ml_common.h` computes them (its `ComputeLogistic`,
//! `ComputeSoftmax`, `ComputeSoftmaxZero` and `ComputeProbit` with its `ErfInv` approximation).

use super::layout::PostTransform;

/// Applies `post` to one row of two or more values, in FP32 as onnxruntime does.
pub(super) fn transform(row: &mut [f32], post: PostTransform) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => row.iter_mut().for_each(|v| *v = logistic(*v)),
        PostTransform::Probit => row.iter_mut().for_each(|v| *v = probit(*v)),
        PostTransform::Softmax => {
            let max = row.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            row.iter_mut().for_each(|v| *v /= sum);
        }
        PostTransform::SoftmaxZero => {
            let max = row.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
            let exp_neg_max = (-max).exp();
            let mut sum = 0.0;
            for v in row.iter_mut() {
                if *v > 1e-7 || *v < -1e-7 {
                    *v = (*v - max).exp();
                    sum += *v;
                } else {
                    *v *= exp_neg_max;
                }
            }
            row.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

/// onnxruntime's `ComputeLogistic`: `1 / (1 + e^-x)`, computed on `|x|` for stability.
pub(super) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// onnxruntime's `ComputeProbit`: `√2 · erfinv(2x − 1)` with its closed-form `erfinv` approximation (NaN outside
/// 0..1, ±∞ at the ends).
pub(super) fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * x - 1.0)
}

/// onnxruntime's `ErfInv` (Winitzki's approximation, a = 0.147).
fn erf_inv(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sign * v3.sqrt()
}

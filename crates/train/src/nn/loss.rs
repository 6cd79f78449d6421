//! Softmax and the cross-entropy loss on it, whose gradient with respect to the logits is `softmax − one-hot`.

use super::tensor::Tensor;

/// Softmax of each row of `[N, classes]` values, in place (shifted by the row's maximum, so it never overflows).
pub fn softmax_rows(values: &mut [f32], classes: usize) {
    for row in values.chunks_exact_mut(classes) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

/// The summed cross-entropy of `logits` (`[N, classes]`) against `labels`, and its gradient with respect to the
/// logits times `scale` (`1 / batch size` gives the mean's gradient).
pub fn cross_entropy(logits: &Tensor, labels: &[u32], scale: f32) -> (f64, Tensor) {
    let classes = logits.item_len();
    assert_eq!(logits.batch(), labels.len(), "one label per row");
    let mut grad = logits.clone();
    softmax_rows(&mut grad.data, classes);
    let mut loss = 0.0;
    for (row, &label) in grad.data.chunks_exact_mut(classes).zip(labels) {
        let label = label as usize;
        assert!(label < classes, "label {label} is not below the {classes} classes");
        loss -= f64::from(row[label].max(1e-30)).ln();
        row[label] -= 1.0;
        row.iter_mut().for_each(|g| *g *= scale);
    }
    (loss, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_the_loss_of_a_confident_right_answer_is_small() {
        let mut v = vec![1.0, 2.0, 3.0, 1000.0, 0.0, -1000.0];
        softmax_rows(&mut v, 3);
        assert!((v[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6 && v[2] > v[1] && v[1] > v[0]);
        assert_eq!(&v[3..], [1.0, 0.0, 0.0]);
        let logits = Tensor::new(vec![2, 2], vec![10.0, -10.0, 0.0, 0.0]);
        let (loss, grad) = cross_entropy(&logits, &[0, 1], 1.0);
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-4, "{loss}");
        assert!((grad.data[2] - 0.5).abs() < 1e-6 && (grad.data[3] + 0.5).abs() < 1e-6);
    }
}

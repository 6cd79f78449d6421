//! A dense `f32` tensor (shape + row-major data) and the three matrix products the layers need, written so the
//! compiler vectorises their inner loops: `a·b`, `a·bᵀ` and `aᵀ·b`, each accumulating into its output.

/// A row-major `f32` tensor; the first dimension is the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, the batch first.
    pub shape: Vec<usize>,
    /// `shape`'s product values, row-major.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` holding `data`.
    ///
    /// # Panics
    /// When `data` does not have `shape`'s product elements.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?} does not hold {} values", data.len());
        Self { shape, data }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Self { shape, data: vec![0.0; n] }
    }

    /// The batch size (first dimension).
    pub fn batch(&self) -> usize {
        self.shape[0]
    }

    /// Values per batch item.
    pub fn item_len(&self) -> usize {
        self.shape[1..].iter().product()
    }

    /// Batch item `i`'s values.
    pub fn item(&self, i: usize) -> &[f32] {
        let n = self.item_len();
        &self.data[i * n..(i + 1) * n]
    }
}

/// `c[m×n] += a[m×k] · b[k×n]`.
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    debug_assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    for (a_row, c_row) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
        for (&a_ip, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            // ReLU outputs are often zero; skipping them saves a row of work.
            if a_ip != 0.0 {
                axpy(a_ip, b_row, c_row);
            }
        }
    }
}

/// `c[m×n] += a[m×k] · b[n×k]ᵀ`.
pub fn matmul_bt(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    debug_assert!(a.len() == m * k && b.len() == n * k && c.len() == m * n);
    for (a_row, c_row) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
        for (c_ij, b_row) in c_row.iter_mut().zip(b.chunks_exact(k)) {
            *c_ij += dot(a_row, b_row);
        }
    }
}

/// `c[m×n] += a[k×m]ᵀ · b[k×n]`.
pub fn matmul_at(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    debug_assert!(a.len() == k * m && b.len() == k * n && c.len() == m * n);
    for (a_row, b_row) in a.chunks_exact(m).zip(b.chunks_exact(n)) {
        for (&a_pi, c_row) in a_row.iter().zip(c.chunks_exact_mut(n)) {
            if a_pi != 0.0 {
                axpy(a_pi, b_row, c_row);
            }
        }
    }
}

/// `y += a · x`.
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `Σ aᵢ·bᵢ` over eight running sums, so the loop vectorises (a single sum is a serial chain of adds).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            sums[l] += x[l] * y[l];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook triple loop, for reference.
    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols * rows).map(|i| a[(i % rows) * cols + i / rows]).collect()
    }

    #[test]
    fn the_three_products_agree_with_the_textbook_one() {
        let (m, k, n) = (3, 11, 5);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        matmul(&a, &b, &mut c, m, k, n);
        assert_eq!(c, want);
        let mut c = vec![0.0; m * n];
        matmul_bt(&a, &transpose(&b, k, n), &mut c, m, k, n);
        assert_eq!(c, want);
        let mut c = vec![0.0; m * n];
        matmul_at(&transpose(&a, m, k), &b, &mut c, m, k, n);
        assert_eq!(c, want);
    }

    #[test]
    fn an_item_is_one_batch_row() {
        let t = Tensor::new(vec![2, 1, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!((t.batch(), t.item_len()), (2, 3));
        assert_eq!(t.item(1), [4.0, 5.0, 6.0]);
    }
}

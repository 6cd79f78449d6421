//! Adam (Kingma & Ba 2015): per-parameter step sizes from running means of the gradient and its square, with the
//! bias correction of the first steps. The defaults (β₁ 0.9, β₂ 0.999, ε 1e-8) are the paper's and PyTorch's.

use super::net::Net;

/// Adam's state: the two running moments of every parameter, laid out as the layers' parameters.
#[derive(Debug, Clone)]
pub struct Adam {
    /// The step size.
    pub learning_rate: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    steps: i32,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// Zero moments for `net`'s parameters.
    pub fn new(net: &Net, learning_rate: f32) -> Self {
        let (m, v) = (net.zero_grads(), net.zero_grads());
        Self { learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, steps: 0, m, v }
    }

    /// One update of `net`'s parameters against `grads` (laid out as [`Net::zero_grads`]).
    pub fn step(&mut self, net: &mut Net, grads: &[Vec<f32>]) {
        self.steps += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let correction1 = 1.0 - b1.powi(self.steps);
        let correction2 = 1.0 - b2.powi(self.steps);
        let rate = self.learning_rate * correction2.sqrt() / correction1;
        for (((layer, g), m), v) in net.layers.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            for (((p, g), m), v) in layer.params_mut().iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p -= rate * *m / (v.sqrt() + self.epsilon);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layers::{Dense, Layer};
    use crate::nn::rng::Rng;

    #[test]
    fn the_first_step_moves_each_parameter_by_the_learning_rate_against_its_gradient() {
        let mut net = Net { input: vec![2], layers: vec![Layer::Dense(Dense::new(2, 1, &mut Rng::new(3)))] };
        let before = net.layers[0].params().to_vec();
        let mut adam = Adam::new(&net, 0.01);
        adam.step(&mut net, &[vec![0.5, -2.0, 0.0]]);
        let after = net.layers[0].params();
        assert!((after[0] - (before[0] - 0.01)).abs() < 1e-6);
        assert!((after[1] - (before[1] + 0.01)).abs() < 1e-6);
        assert_eq!(after[2], before[2], "a zero gradient leaves the bias");
    }
}

//! Inverted dropout with masks drawn from the run's seeded `Dropout` stream on the host, so a run
//! is reproducible on every device: in training each value is zeroed with probability `p` and the
//! others scaled by 1/(1−p); in evaluation it is the identity.

use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// A dropout layer; layers of one model share its random stream.
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    rng: Arc<Mutex<ChaCha8Rng>>,
}

impl Dropout {
    /// Dropout with probability `p` in [0, 1) drawing from `rng`.
    pub fn new(p: f64, rng: Arc<Mutex<ChaCha8Rng>>) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid(
                "model.dropout",
                format!("{p} is out of range; expected a probability 0 ≤ p < 1"),
            ));
        }
        Ok(Self { p, rng })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The stream's position (`rng::save_state`), for a checkpoint.
    pub fn stream_state(&self) -> Result<String> {
        Ok(crate::rng::save_state(&*self.lock()?))
    }

    /// Continues the stream from a position saved by [`Dropout::stream_state`].
    pub fn restore_stream_state(&self, state: &str) -> Result<()> {
        *self.lock()? = crate::rng::restore_state(state, "checkpoint dropout stream")?;
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ChaCha8Rng>> {
        self.rng
            .lock()
            .map_err(|_| Error::invalid("model.dropout", "the dropout stream was poisoned"))
    }

    /// `x` with dropout applied when `training`.
    pub fn forward(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        if !training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let scale = (1.0 / (1.0 - self.p)) as f32;
        let mask: Vec<f32> = {
            let mut rng = self.lock()?;
            (0..x.elem_count())
                .map(|_| {
                    if rng.random::<f64>() < self.p {
                        0.0
                    } else {
                        scale
                    }
                })
                .collect()
        };
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * mask)?)
    }
}

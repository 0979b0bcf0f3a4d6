//! The activation cache: keeps the tensors of the hook points its filter selects, on their device.
//!
//! A forward pass over a probe set may run in chunks; [`ActivationCache::hook`] appends each chunk
//! and [`ActivationCache::take`] concatenates them along the batch dimension (dim 0). With
//! [`ActivationCache::with_representations`] each chunk is reduced to its rows (`channel_mean`,
//! `project:K`, …) as it arrives, so a reduced hook never stores its full map.

use std::collections::BTreeMap;

use candle_core::Tensor;

use crate::{NameFilter, Representations, Result};

/// Tensors recorded at hook points, by name. Tensors stay on the device they were produced on.
#[derive(Debug)]
pub struct ActivationCache {
    filter: NameFilter,
    chunks: BTreeMap<String, Vec<Tensor>>,
    represent: Option<Representations>,
}

impl ActivationCache {
    /// An empty cache that records the hook points `filter` selects.
    pub fn new(filter: NameFilter) -> Self {
        Self {
            filter,
            chunks: BTreeMap::new(),
            represent: None,
        }
    }

    /// Stores each selected tensor as its representation's rows `[batch, features]` instead of
    /// as it is (see [`Representations`]).
    pub fn with_representations(mut self, represent: Representations) -> Self {
        self.represent = Some(represent);
        self
    }

    /// Called by models at each hook point: records `t` if the filter selects `name`. `t` is
    /// detached from the autograd graph so caching never keeps a graph alive.
    pub fn hook(&mut self, name: &str, t: &Tensor) -> Result<()> {
        if self.filter.matches(name) {
            let t = match self.represent.as_mut() {
                Some(r) => r.apply(name, &t.detach())?,
                None => t.detach(),
            };
            self.chunks.entry(name.to_string()).or_default().push(t);
        }
        Ok(())
    }

    /// Whether the filter selects `name` (so a model can skip computing a tensor only a hook
    /// would use).
    pub fn selects(&self, name: &str) -> bool {
        self.filter.matches(name)
    }

    /// Names recorded so far, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.chunks.keys().map(|k| k.as_str()).collect()
    }

    /// Removes and returns the tensor recorded at `name`, all chunks concatenated on dim 0.
    pub fn take(&mut self, name: &str) -> Result<Option<Tensor>> {
        match self.chunks.remove(name) {
            None => Ok(None),
            Some(mut v) if v.len() == 1 => Ok(v.pop()),
            Some(v) => Ok(Some(Tensor::cat(&v, 0)?)),
        }
    }

    /// Drops everything recorded.
    pub fn clear(&mut self) {
        self.chunks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn chunks_are_concatenated_in_order() {
        let mut cache = ActivationCache::new(NameFilter::all());
        let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[5f32, 6.]], &Device::Cpu).unwrap();
        cache.hook("h", &a).unwrap();
        cache.hook("h", &b).unwrap();
        let t = cache.take("h").unwrap().unwrap();
        assert_eq!(
            t.to_vec2::<f32>().unwrap(),
            vec![vec![1., 2.], vec![3., 4.], vec![5., 6.]]
        );
        assert!(cache.take("h").unwrap().is_none());
    }

    #[test]
    fn unselected_names_are_not_kept() {
        let filter = NameFilter::new(&["keep".to_string()]).unwrap();
        let mut cache = ActivationCache::new(filter);
        let t = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        cache.hook("drop", &t).unwrap();
        cache.hook("keep", &t).unwrap();
        assert_eq!(cache.names(), vec!["keep"]);
    }
}

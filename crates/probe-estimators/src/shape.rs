//! Shape checks shared by the estimators: a tensor `[n, …]` of a float dtype read as `n` samples of
//! `d` values each (`d` the product of the trailing dimensions).

use candle_core::Tensor;

use crate::error::{Error, Result};

/// `(n, d)` of a tensor `[n, …]` of a float dtype. Errors on rank 0 or a non-float dtype.
pub(crate) fn samples_shape(t: &Tensor) -> Result<(usize, usize)> {
    let dims = t.dims();
    let Some((&n, rest)) = dims.split_first() else {
        return Err(Error::InvalidShape {
            shape: dims.to_vec(),
        });
    };
    if !t.dtype().is_float() {
        return Err(Error::UnsupportedDtype(t.dtype()));
    }
    Ok((n, rest.iter().product()))
}

/// Checks `n` samples of `d` values: `1 <= n <= u32::MAX` (sample ids are `u32`) and `d >= 1`.
pub(crate) fn check_samples(n: usize, d: usize) -> Result<()> {
    if n == 0 || n > u32::MAX as usize {
        return Err(Error::InvalidDimension {
            what: "n",
            got: n,
            expected: "between 1 and u32::MAX samples",
        });
    }
    if d == 0 {
        return Err(Error::InvalidDimension {
            what: "d",
            got: d,
            expected: "at least 1 value per sample",
        });
    }
    Ok(())
}

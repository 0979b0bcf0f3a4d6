//! The safetensors files `probe analyze` reads and `probe train` dumps
//! (`measure.dump_activations`).
//!
//! * Activations: every tensor is one layer, shape `[samples, …]` (each sample is flattened), any
//!   float dtype (F16, BF16, F32, F64). Layers are taken in the order the optional metadata key
//!   `probe.layers` (a JSON list of tensor names) gives, else in natural name order
//!   (`layers.2` before `layers.10`). The optional metadata key `probe.epoch` fills the `epoch`
//!   column.
//! * Labels: one integer tensor (U8, I8, U16, I16, U32, I32, U64, I64), shape `[samples]` or
//!   `[samples, 1]`, values ≥ 0; a file with several tensors needs `--labels-key`.
//! * Inputs: one tensor of any integer or float dtype, `[samples, …]`; samples whose inputs are
//!   equal element by element (`-0.0 == 0.0`, all NaNs equal) are the same `x`.
//!
//! `probe train` writes `activations-epoch{E}.safetensors` (F32, `probe.layers` and `probe.epoch`
//! set), `labels.safetensors` (one I64 tensor `labels`) and `inputs.safetensors` (one F32 tensor
//! `inputs`), which PyTorch's `safetensors.torch.load_file` reads as well.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{bail, invalid, Context, Result};
use candle_core::{DType, Device, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// Metadata key of the layer order (a JSON list of tensor names).
pub const META_LAYERS: &str = "probe.layers";
/// Metadata key of the epoch the activations were captured after.
pub const META_EPOCH: &str = "probe.epoch";

/// The layers of an activations file.
pub struct Activations {
    /// `(name, tensor [n, …])` on the CPU, in file order (see the module docs).
    pub layers: Vec<(String, Tensor)>,
    /// Number of samples (dim 0 of every layer).
    pub n: usize,
    /// The `probe.epoch` metadata, if present.
    pub epoch: Option<usize>,
}

/// Reads a whole file that must be safetensors; `flag` names it in errors (`--labels`).
fn read(path: &Path, flag: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {flag} file {}", path.display()))
}

fn parse<'a>(bytes: &'a [u8], path: &Path, flag: &str) -> Result<SafeTensors<'a>> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        invalid!(
            "{flag} file {} is not a safetensors file ({e}); save tensors with safetensors.torch.save_file or safetensors.numpy.save_file",
            path.display()
        )
    })?;
    if st.is_empty() {
        bail!("{flag} file {} holds no tensors", path.display());
    }
    Ok(st)
}

fn metadata(bytes: &[u8]) -> HashMap<String, String> {
    SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default()
}

/// candle's dtype of a float safetensors dtype.
fn float_dtype(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        _ => return None,
    })
}

/// Reads an activations file (see the module docs).
pub fn load_activations(path: &Path) -> Result<Activations> {
    const FLAG: &str = "--activations";
    let bytes = read(path, FLAG)?;
    let st = parse(&bytes, path, FLAG)?;
    let meta = metadata(&bytes);
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    if let Some(order) = meta.get(META_LAYERS) {
        let listed: Vec<String> = serde_json::from_str(order).with_context(|| {
            format!(
                "{FLAG} file {}: metadata {META_LAYERS:?} = {order:?} is not a JSON list of tensor names",
                path.display()
            )
        })?;
        let mut sorted = listed.clone();
        sorted.sort_by(|a, b| natural_cmp(a, b));
        if sorted != names {
            bail!(
                "{FLAG} file {}: metadata {META_LAYERS:?} lists {listed:?} but the file holds {names:?}",
                path.display()
            );
        }
        names = listed;
    }
    let epoch = match meta.get(META_EPOCH) {
        None => None,
        Some(e) => Some(e.parse::<usize>().with_context(|| {
            format!(
                "{FLAG} file {}: metadata {META_EPOCH:?} = {e:?} is not an epoch number",
                path.display()
            )
        })?),
    };
    let mut layers = Vec::with_capacity(names.len());
    let mut n: Option<(usize, &str)> = None;
    for name in &names {
        let view = st.tensor(name)?;
        let what = || format!("tensor {name:?} in {FLAG} file {}", path.display());
        let Some(dtype) = float_dtype(view.dtype()) else {
            bail!(
                "{} has dtype {:?}; activations must be floating point (F16, BF16, F32 or F64)",
                what(),
                view.dtype()
            );
        };
        let shape = view.shape();
        let Some((&rows, rest)) = shape.split_first() else {
            bail!(
                "{} is a scalar; a layer is [samples, …] (one row per sample)",
                what()
            );
        };
        if rows == 0 || rest.contains(&0) {
            bail!("{} has shape {shape:?}: no values", what());
        }
        match n {
            None => n = Some((rows, name)),
            Some((m, first)) if m != rows => bail!(
                "{} has {rows} samples (dim 0 of {shape:?}) but tensor {first:?} has {m}; every layer needs the same samples",
                what()
            ),
            Some(_) => {}
        }
        let t =
            Tensor::from_raw_buffer(view.data(), dtype, shape, &Device::Cpu).with_context(what)?;
        layers.push((name.clone(), t));
    }
    Ok(Activations {
        layers,
        n: n.map(|(m, _)| m).unwrap_or(0),
        epoch,
    })
}

/// Picks the one tensor of a labels or inputs file (or `key`); `key_flag` is the flag that
/// chooses among several (`--labels-key`).
fn pick<'a>(
    st: &'a SafeTensors<'a>,
    key: Option<&str>,
    path: &Path,
    flag: &str,
    key_flag: &str,
) -> Result<(String, TensorView<'a>)> {
    let mut names: Vec<&str> = st.names();
    names.sort_by(|a, b| natural_cmp(a, b));
    let name = match key {
        Some(k) => {
            if !names.contains(&k) {
                bail!(
                    "{flag} file {} has no tensor {k:?} ({key_flag}); it holds {names:?}",
                    path.display()
                );
            }
            k.to_string()
        }
        None if names.len() == 1 => names[0].to_string(),
        None => bail!(
            "{flag} file {} holds {} tensors {names:?}; choose one with {key_flag}",
            path.display(),
            names.len()
        ),
    };
    let view = st.tensor(&name)?;
    Ok((name, view))
}

/// Little-endian integers of an integer tensor, widened to `i128` (`None` for other dtypes).
fn int_values(view: &TensorView<'_>) -> Option<Vec<i128>> {
    let d = view.data();
    macro_rules! le {
        ($t:ty) => {
            d.as_chunks::<{ std::mem::size_of::<$t>() }>()
                .0
                .iter()
                .map(|c| <$t>::from_le_bytes(*c) as i128)
                .collect()
        };
    }
    Some(match view.dtype() {
        Dtype::U8 => le!(u8),
        Dtype::I8 => le!(i8),
        Dtype::U16 => le!(u16),
        Dtype::I16 => le!(i16),
        Dtype::U32 => le!(u32),
        Dtype::I32 => le!(i32),
        Dtype::U64 => le!(u64),
        Dtype::I64 => le!(i64),
        _ => return None,
    })
}

/// Reads the class labels: one integer tensor `[n]` or `[n, 1]`, values in `0..=u32::MAX`.
pub fn load_labels(path: &Path, key: Option<&str>, n: usize) -> Result<Vec<u32>> {
    const FLAG: &str = "--labels";
    let bytes = read(path, FLAG)?;
    let st = parse(&bytes, path, FLAG)?;
    let (name, view) = pick(&st, key, path, FLAG, "--labels-key")?;
    let what = format!("{FLAG} tensor {name:?} in {}", path.display());
    let Some(values) = int_values(&view) else {
        bail!(
            "{what} has dtype {:?}; labels must be integer class ids (U8, I8, U16, I16, U32, I32, U64 or I64, e.g. torch.int64), not floats or one-hot rows",
            view.dtype()
        );
    };
    let shape = view.shape();
    let ok_shape = matches!(shape, [_] | [_, 1]);
    if !ok_shape {
        bail!("{what} has shape {shape:?}; expected [samples] (one class id per sample)");
    }
    if values.len() != n {
        bail!(
            "{what} holds {} labels but --activations has {n} samples; they must describe the same samples in the same order",
            values.len()
        );
    }
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            u32::try_from(v).map_err(|_| {
                if v < 0 {
                    invalid!(
                        "{what}: label {v} at index {i} is negative; labels must be class ids ≥ 0"
                    )
                } else {
                    invalid!("{what}: label {v} at index {i} is larger than {}", u32::MAX)
                }
            })
        })
        .collect()
}

/// Input symbols: equal input rows share an id (dense, first-appearance order); from a file
/// ([`load_inputs`]) or from memory ([`InputIds::from_tensor`]).
#[derive(Clone, Debug, PartialEq)]
pub struct InputIds {
    /// The id of each sample's input.
    pub ids: Vec<u32>,
    /// Number of distinct inputs.
    pub distinct: usize,
    /// The inputs as `f32`, row-major `[n, d]` (for the k-nearest-neighbour estimator).
    pub values: Vec<f32>,
    /// Values per sample.
    pub d: usize,
}

/// Reads the inputs X (one tensor `[n, …]`, any integer or float dtype) and groups equal rows.
pub fn load_inputs(path: &Path, key: Option<&str>, n: usize) -> Result<InputIds> {
    const FLAG: &str = "--inputs";
    let bytes = read(path, FLAG)?;
    let st = parse(&bytes, path, FLAG)?;
    let (name, view) = pick(&st, key, path, FLAG, "--inputs-key")?;
    let what = format!("{FLAG} tensor {name:?} in {}", path.display());
    let shape = view.shape().to_vec();
    let Some((&rows, _)) = shape.split_first() else {
        bail!("{what} is a scalar; expected [samples, …]");
    };
    if rows != n {
        bail!(
            "{what} has {rows} samples (dim 0 of {shape:?}) but --activations has {n}; they must describe the same samples in the same order"
        );
    }
    let (keys, values) = if let Some(ints) = int_values(&view) {
        int_keys(ints)
    } else if let Some(dtype) = float_dtype(view.dtype()) {
        let elems = view.data().len() / dtype.size_in_bytes();
        float_keys(&Tensor::from_raw_buffer(
            view.data(),
            dtype,
            &[elems],
            &Device::Cpu,
        )?)?
    } else {
        bail!(
            "{what} has dtype {:?}; expected an integer or float tensor",
            view.dtype()
        );
    };
    InputIds::group(&keys, values, n, &format!("{what} has shape {shape:?}"))
}

impl InputIds {
    /// Groups the rows of inputs held in memory, `x` `[n, …]` (any integer or float dtype, any
    /// device), exactly as [`load_inputs`] groups a file's: equal rows share a symbol (`-0.0 ==
    /// 0.0`, all NaNs equal).
    pub fn from_tensor(x: &Tensor) -> Result<InputIds> {
        let dims = x.dims();
        let Some((&n, _)) = dims.split_first() else {
            bail!("the inputs are a scalar; expected [samples, …]");
        };
        let (keys, values) = if x.dtype().is_int() {
            let v = x.flatten_all()?.to_dtype(DType::I64)?.to_vec1::<i64>()?;
            int_keys(v.into_iter().map(i128::from).collect())
        } else if x.dtype().is_float() {
            float_keys(&x.flatten_all()?)?
        } else {
            bail!(
                "the inputs have dtype {:?}; expected an integer or float tensor",
                x.dtype()
            );
        };
        InputIds::group(&keys, values, n, &format!("the inputs have shape {dims:?}"))
    }

    /// Symbols of the `n` rows of `keys` (one key per element, row-major, `keys.len()` a
    /// multiple of `n > 0`), dense in first-appearance order; `values` are kept for knn. No keys
    /// is an error: `"{shape}: no values"`, with `shape` saying what has which shape.
    fn group(keys: &[u64], values: Vec<f32>, n: usize, shape: &str) -> Result<InputIds> {
        if keys.is_empty() {
            bail!("{shape}: no values");
        }
        let d = keys.len() / n;
        let mut seen: HashMap<&[u64], u32> = HashMap::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        for row in 0..n {
            let next = seen.len() as u32;
            ids.push(*seen.entry(&keys[row * d..(row + 1) * d]).or_insert(next));
        }
        Ok(InputIds {
            distinct: seen.len(),
            ids,
            values,
            d,
        })
    }
}

// One u64 key per element, injective within the dtype: integers by value, floats by the bits of
// their f64 value with -0.0 as 0.0 and every NaN as one key. Values as f32 for knn.

/// Keys and `f32` values of integer inputs.
fn int_keys(ints: Vec<i128>) -> (Vec<u64>, Vec<f32>) {
    ints.into_iter().map(|v| (v as u64, v as f32)).unzip()
}

/// Keys and `f32` values of a 1-d float tensor.
fn float_keys(flat: &Tensor) -> Result<(Vec<u64>, Vec<f32>)> {
    let wide = flat.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    Ok(wide
        .into_iter()
        .map(|x| {
            let key = if x.is_nan() {
                f64::NAN.to_bits()
            } else if x == 0.0 {
                0
            } else {
                x.to_bits()
            };
            (key, x as f32)
        })
        .unzip())
}

/// The bytes of an activations file holding `layers` (in that order) captured after `epoch`.
pub fn activations_bytes(layers: &[(String, Tensor)], epoch: usize) -> Result<Vec<u8>> {
    let order: Vec<&str> = layers.iter().map(|(n, _)| n.as_str()).collect();
    // probe's own writer: metadata and tensors in sorted order (safetensors' `serialize` takes a
    // HashMap, so its header order changed from run to run), with checksums.
    let meta = BTreeMap::from([
        (META_LAYERS.to_string(), serde_json::to_string(&order)?),
        (META_EPOCH.to_string(), epoch.to_string()),
    ]);
    let tensors: Vec<(String, Tensor)> = layers
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_dtype(DType::F32)?)))
        .collect::<Result<_>>()?;
    Ok(probe_train::checkpoint::tensors_with_meta_to_bytes(
        &tensors, &meta,
    )?)
}

/// The bytes of `labels.safetensors`: one I64 tensor `labels` `[n]`.
pub fn labels_bytes(y: &[u32]) -> Result<Vec<u8>> {
    let y: Vec<i64> = y.iter().map(|&v| i64::from(v)).collect();
    let n = y.len();
    let t = Tensor::from_vec(y, n, &Device::Cpu)?;
    Ok(safetensors::serialize([("labels", t)], None)?)
}

/// The bytes of `inputs.safetensors`: one F32 tensor `inputs` `[n, d]`.
pub fn inputs_bytes(x: &[f32], n: usize, d: usize) -> Result<Vec<u8>> {
    let t = Tensor::from_slice(x, (n, d), &Device::Cpu)?;
    Ok(safetensors::serialize([("inputs", t)], None)?)
}

/// Compares names with digit runs as numbers: `layers.2` < `layers.10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let ord = na.len().cmp(&nb.len()).then(na.cmp(nb)).then(da.cmp(&db));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let i = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An activations dump is byte-stable (sorted header, as checkpoints), and reads back with
    /// its layer order and epoch. With safetensors' HashMap metadata the header order changed
    /// between calls.
    #[test]
    fn activations_dumps_are_byte_stable_and_read_back() {
        let dev = Device::Cpu;
        let layers = vec![
            (
                "z.last".to_string(),
                Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &dev).unwrap(),
            ),
            (
                "a.first".to_string(),
                Tensor::new(&[[0.5f32], [0.25]], &dev).unwrap(),
            ),
        ];
        let first = activations_bytes(&layers, 7).unwrap();
        for _ in 0..16 {
            assert_eq!(activations_bytes(&layers, 7).unwrap(), first);
        }
        let dir = std::env::temp_dir().join(format!("probe-dump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acts.safetensors");
        std::fs::write(&path, &first).unwrap();
        let acts = load_activations(&path).unwrap();
        let names: Vec<&str> = acts.layers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["z.last", "a.first"]);
        assert_eq!(acts.epoch, Some(7));
        assert_eq!(
            acts.layers[0].1.to_vec2::<f32>().unwrap(),
            [[1.0, 2.0], [3.0, 4.0]]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Inputs given in memory get the symbols a file gets: equal rows share one, `-0.0 == 0.0`,
    /// NaNs equal, integers by value; `load_inputs` of the same tensor agrees.
    #[test]
    fn inputs_in_memory_group_like_a_file() {
        let x = Tensor::new(
            &[
                [0.0f32, 1.0],
                [-0.0, 1.0],
                [f32::NAN, 2.0],
                [f32::NAN, 2.0],
                [0.5, 1.0],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mem = InputIds::from_tensor(&x).unwrap();
        assert_eq!(
            (mem.ids.as_slice(), mem.distinct, mem.d),
            (&[0, 0, 1, 1, 2][..], 3, 2)
        );
        let dir = std::env::temp_dir().join(format!("probe-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("inputs.safetensors");
        std::fs::write(&path, safetensors::serialize([("x", x)], None).unwrap()).unwrap();
        let file = load_inputs(&path, None, 5).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(file.ids, mem.ids);
        assert_eq!(file.distinct, mem.distinct);
        assert_eq!(file.d, mem.d);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&file.values), bits(&mem.values));

        let ints = Tensor::new(&[[3i64], [-1], [3]], &Device::Cpu).unwrap();
        let ids = InputIds::from_tensor(&ints).unwrap();
        assert_eq!(
            (ids.ids, ids.distinct, ids.values),
            (vec![0, 1, 0], 2, vec![3.0, -1.0, 3.0])
        );
    }

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut v = vec![
            "layers.10.hook_post",
            "layers.2.hook_post",
            "layers.2.hook_pre",
            "layers.02.hook_post",
            "b",
            "a10",
            "a9",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "a9",
                "a10",
                "b",
                "layers.2.hook_post",
                "layers.2.hook_pre",
                // Equal numbers: fewer leading zeros first, decided at that number.
                "layers.02.hook_post",
                "layers.10.hook_post"
            ]
        );
    }
}

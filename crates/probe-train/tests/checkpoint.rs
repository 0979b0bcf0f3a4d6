//! Checkpoint files (`checkpoint::Checkpoint`): tensors, text values and blobs round-trip, a
//! plain weights file is refused, and the format version (2, or 3 for a checkpoint taken inside
//! an epoch) is written from the content and must match it when read.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use probe_train::checkpoint::{format, Checkpoint};

mod common;
use common::bits;
use common::scratch::Scratch;

/// The metadata key holding a checkpoint's format version.
const FORMAT_KEY: &str = "probe.checkpoint";

#[test]
fn a_checkpoint_inside_an_epoch_is_format_3_and_the_version_must_match_it() {
    let dir = Scratch::new("ckpt-v3");
    let path = dir.path("checkpoint.safetensors");
    let version = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        ["2", "3"]
            .into_iter()
            .find(|v| text.contains(&format!("\"{FORMAT_KEY}\":\"{v}\"")))
    };
    let mut c = Checkpoint::default();
    c.meta.insert("epoch".into(), "4".into());
    assert_eq!(version(&c.to_bytes().unwrap()), Some("2"));
    c.meta.insert("paused.epoch".into(), "5".into());
    let bytes = c.to_bytes().unwrap();
    assert_eq!(version(&bytes), Some("3"));
    std::fs::write(&path, &bytes).unwrap();
    let back = Checkpoint::read(&path, &Device::Cpu).unwrap();
    assert_eq!(back.meta("paused.epoch", &path).unwrap(), "5");
    // Checksums intact but the version contradicting the content, or unknown: refused.
    for (v, paused, words) in [
        ("2", true, "format 2 with a stopped epoch"),
        ("3", false, "format 3 without a stopped epoch"),
        ("4", false, "reads formats 2 and 3"),
    ] {
        let mut meta = BTreeMap::from([(FORMAT_KEY.to_string(), v.to_string())]);
        if paused {
            meta.insert("paused.epoch".into(), "5".into());
        }
        std::fs::write(&path, format::encode(&[], &meta).unwrap()).unwrap();
        let e = Checkpoint::read(&path, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains(words), "{e}");
    }
}

#[test]
fn checkpoint_round_trips_tensors_text_and_blobs() {
    let dir = Scratch::new("ckpt");
    let path = dir.path("checkpoint.safetensors");
    let mut c = Checkpoint::default();
    let w = Tensor::new(&[[1.5f32, -0.0], [f32::MIN_POSITIVE, 3.0]], &Device::Cpu).unwrap();
    c.tensors.push(("model.layers.0.weight".into(), w.clone()));
    c.meta.insert("epoch".into(), "7".into());
    c.blobs
        .insert("metrics".into(), b"epoch,loss\n1,0.5\n".to_vec());
    c.blobs.insert("empty".into(), Vec::new());
    std::fs::write(&path, c.to_bytes().unwrap()).unwrap();
    let back = Checkpoint::read(&path, &Device::Cpu).unwrap();
    assert_eq!(back.meta("epoch", &path).unwrap(), "7");
    assert_eq!(back.blobs, c.blobs);
    let t = back.tensor("model.layers.0.weight", &path).unwrap();
    assert_eq!(bits(t), bits(&w));
    let e = back.meta("step", &path).unwrap_err();
    assert!(
        e.to_string().contains("checkpoint.safetensors") && e.to_string().contains("step"),
        "{e}"
    );
    // A plain weights file is not a checkpoint.
    std::fs::write(&path, safetensors::serialize(vec![("w", w)], None).unwrap()).unwrap();
    let e = Checkpoint::read(&path, &Device::Cpu).unwrap_err();
    assert!(e.to_string().contains("not a probe checkpoint"), "{e}");
}

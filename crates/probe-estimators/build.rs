//! Build script of probe-estimators: with the `cuda` feature, compiles every `kernels/*.cu` of the
//! workspace to PTX with `nvcc` (into `OUT_DIR`, embedded by `src/cuda/`). Without the feature it
//! does nothing, so a CPU build never needs CUDA.
//!
//! nvcc: `$NVCC`, else `nvcc` on `PATH`, else `$CUDA_HOME/bin/nvcc`, `$CUDA_PATH/bin/nvcc`,
//! `/usr/local/cuda/bin/nvcc`, `/opt/cuda/bin/nvcc`. Target: `compute_XY` PTX (JIT-compiled by the
//! driver for the GPU it runs on, that architecture or any later one) with XY from
//! `$CUDA_COMPUTE_CAP` (`90`, `9.0` or `90a`), else from `nvidia-smi`. The kernels need exact IEEE
//! arithmetic, so they are built with `--fmad=false -ftz=false -prec-div=true -prec-sqrt=true`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

fn fail(msg: &str) -> ! {
    eprintln!("probe-estimators build script (feature `cuda`): {msg}");
    exit(1);
}

fn find_nvcc() -> PathBuf {
    if let Some(p) = env::var_os("NVCC") {
        return PathBuf::from(p);
    }
    if let Some(path) = env::var_os("PATH") {
        for dir in env::split_paths(&path) {
            let p = dir.join("nvcc");
            if p.is_file() {
                return p;
            }
        }
    }
    let roots = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(|v| env::var_os(v).map(PathBuf::from))
        .chain(["/usr/local/cuda", "/opt/cuda"].iter().map(PathBuf::from));
    for root in roots {
        let p = root.join("bin").join("nvcc");
        if p.is_file() {
            return p;
        }
    }
    fail(
        "nvcc not found (looked at $NVCC, PATH, $CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin, \
         /opt/cuda/bin). Install a CUDA toolkit, or without one run \
         `eval \"$(bash scripts/cuda/install_toolchain.sh)\"` first.",
    )
}

/// `90` from `90`, `9.0`, `90a`, `sm_90`.
fn parse_cap(s: &str) -> Option<u32> {
    let digits: String = s.trim().chars().filter(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|&c| (30..1000).contains(&c))
}

fn compute_cap() -> u32 {
    if let Ok(v) = env::var("CUDA_COMPUTE_CAP") {
        return parse_cap(&v).unwrap_or_else(|| {
            fail(&format!(
                "CUDA_COMPUTE_CAP = {v:?}: expected a compute capability such as 90 (H100) or 80 (A100)"
            ))
        });
    }
    let smi = Command::new("nvidia-smi")
        .args(["--query-gpu=compute_cap", "--format=csv,noheader"])
        .output();
    match smi {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(parse_cap)
            .unwrap_or_else(|| fail("nvidia-smi printed no compute capability; set CUDA_COMPUTE_CAP")),
        _ => fail(
            "no GPU to ask (nvidia-smi failed) and CUDA_COMPUTE_CAP is not set: set it to the target \
             GPU's compute capability, e.g. CUDA_COMPUTE_CAP=90 for an H100",
        ),
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    for v in ["NVCC", "CUDA_COMPUTE_CAP", "CUDA_HOME", "CUDA_PATH"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let kernels = manifest.join("../../kernels");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR is not set")));
    println!("cargo:rerun-if-changed={}", kernels.display());
    let mut sources = Vec::new();
    let entries = std::fs::read_dir(&kernels)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", kernels.display())));
    for entry in entries.flatten() {
        let p = entry.path();
        match p.extension().and_then(|e| e.to_str()) {
            Some("cu") => sources.push(p),
            Some("cuh") => println!("cargo:rerun-if-changed={}", p.display()),
            _ => {}
        }
    }
    sources.sort();
    for s in &sources {
        println!("cargo:rerun-if-changed={}", s.display());
    }
    let nvcc = find_nvcc();
    let arch = format!("-arch=compute_{}", compute_cap());
    // All files at once: nvcc runs are independent.
    let jobs: Vec<_> = sources
        .iter()
        .map(|src| {
            let ptx =
                out.join(Path::new(src.file_stem().unwrap_or_default()).with_extension("ptx"));
            let child = Command::new(&nvcc)
                .args(["--ptx", &arch, "-O3", "-std=c++17"])
                .args([
                    "--fmad=false",
                    "-ftz=false",
                    "-prec-div=true",
                    "-prec-sqrt=true",
                ])
                .arg("-I")
                .arg(&kernels)
                .arg("-o")
                .arg(&ptx)
                .arg(src)
                .spawn()
                .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", nvcc.display())));
            (src, child)
        })
        .collect();
    for (src, child) in jobs {
        match child.wait_with_output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => fail(&format!("nvcc failed on {} ({})", src.display(), o.status)),
            Err(e) => fail(&format!("nvcc on {}: {e}", src.display())),
        }
    }
}

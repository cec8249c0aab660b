//! Helpers shared by the integration tests that need CIFAR-10.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use attonet_convert::npy::Array;
use attonet_convert::quantize::{self, FloatModel};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A CIFAR-10 split: uint8 images `[N, 32, 32, 3]` (HWC, RGB) and labels.
pub struct Cifar {
    pub x: Vec<u8>,
    pub y: Vec<i64>,
}

/// Reads `.data/cifar10/{split}_{x,y}.npy` (`cargo xtask fetch-cifar10`).
/// Missing data fails the test when `CI` is set, and skips it with a note
/// otherwise.
pub fn cifar(split: &str) -> Option<Cifar> {
    let dir = root().join(".data/cifar10");
    let (xp, yp) = (
        dir.join(format!("{split}_x.npy")),
        dir.join(format!("{split}_y.npy")),
    );
    if !xp.exists() || !yp.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing (cargo xtask fetch-cifar10)",
            xp.display()
        );
        eprintln!(
            "skipped: {} is missing (cargo xtask fetch-cifar10)",
            xp.display()
        );
        return None;
    }
    let x = Array::read(&xp).unwrap();
    assert_eq!(&x.shape[1..], &[32, 32, 3]);
    let y = Array::read(&yp).unwrap().to_i64().unwrap();
    Some(Cifar { x: x.data, y })
}

/// Image `i` of `c` as float NCHW, each pixel times `scale` (`1 / 255` for a
/// network trained on `[0, 1]` inputs, `1` for one that takes raw pixels).
pub fn nchw(c: &Cifar, i: usize, scale: f32) -> Vec<f32> {
    let px = &c.x[i * 3072..(i + 1) * 3072];
    let mut out = vec![0f32; 3072];
    for y in 0..32 {
        for x in 0..32 {
            for ch in 0..3 {
                out[ch * 1024 + y * 32 + x] = px[(y * 32 + x) * 3 + ch] as f32 * scale;
            }
        }
    }
    out
}

pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &s) in v.iter().enumerate() {
        if s > v[best] {
            best = i;
        }
    }
    best
}

/// Correct top-1 predictions of the int8 plan `a` (quantized from `fm`) over
/// test images `0..n` (pixels times `scale`), on every core.
pub fn int8_correct(
    fm: &FloatModel,
    a: &attonet_convert::Assembled,
    test: &Cifar,
    n: usize,
    scale: f32,
) -> usize {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || {
                    let m = a.model();
                    let mut arena = vec![0i8; m.arena_bytes as usize];
                    let mut out = vec![0i8; m.output.slot.shape.len()];
                    let mut ok = 0;
                    for i in start..(start + chunk).min(n) {
                        let x = fm.sample_to_graph(&nchw(test, i, scale));
                        let q = quantize::quantize_values(&x, m.input.scale, m.input.zero_point);
                        m.infer(&mut arena, &q, &mut out).unwrap();
                        ok += (argmax(&out) as i64 == test.y[i]) as usize;
                    }
                    ok
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum()
    })
}

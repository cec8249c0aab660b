//! Helpers shared by the integration tests that need CIFAR-10.

use std::path::{Path, PathBuf};

use attonet_convert::npy::Array;

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

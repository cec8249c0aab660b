//! The `build.rs` entry point: convert a model into `OUT_DIR` (or any folder).
//!
//! ```no_run
//! // build.rs
//! attonet_convert::Builder::new("models/resnet8_int8.tflite")
//!     .name("resnet8")
//!     .build()
//!     .unwrap();
//! // src/main.rs
//! // mod resnet8 { include!(concat!(env!("OUT_DIR"), "/resnet8.rs")); }
//! ```

use std::path::{Path, PathBuf};

use crate::error::{ConvertError, Result};
use crate::report::Report;

/// Converts one model file into generated Rust source and a weight blob.
#[derive(Debug, Clone)]
pub struct Builder {
    model: PathBuf,
    name: Option<String>,
    out_dir: Option<PathBuf>,
    cargo: bool,
}

impl Builder {
    /// A builder for the model at `model`.
    pub fn new(model: impl Into<PathBuf>) -> Builder {
        Builder {
            model: model.into(),
            name: None,
            out_dir: None,
            cargo: std::env::var_os("CARGO").is_some() && std::env::var_os("OUT_DIR").is_some(),
        }
    }

    /// Names the generated files `<name>.rs` / `<name>.bin` (default: the
    /// model's file stem, made a valid identifier).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Writes into `dir` instead of `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Converts and writes the files; returns the model's cost report. When
    /// run from a build script, also prints `cargo:rerun-if-changed`.
    pub fn build(self) -> Result<Report> {
        let out_dir = match self.out_dir {
            Some(d) => d,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    ConvertError::Graph(
                        "OUT_DIR is not set: call out_dir() outside a build script".into(),
                    )
                })?,
        };
        if self.cargo {
            println!("cargo:rerun-if-changed={}", self.model.display());
        }
        let name = self
            .name
            .unwrap_or_else(|| crate::default_name(&self.model));
        let (generated, report) = crate::convert_file(&self.model, &name)?;
        write_generated(&out_dir, &generated)?;
        Ok(report)
    }
}

/// Writes both generated files atomically: each goes to a temporary file in
/// the same folder first and is renamed into place only when both are
/// complete, so a failure never leaves half-written output.
pub fn write_generated(dir: &Path, g: &crate::codegen::Generated) -> Result<()> {
    let io = |path: &Path, source: std::io::Error| ConvertError::Io {
        path: path.to_path_buf(),
        error: source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let files = [
        (&g.blob_file, g.blob.as_slice()),
        (&g.rust_file, g.rust.as_bytes()),
    ];
    let mut staged = Vec::new();
    for (name, bytes) in files {
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        if let Err(e) = std::fs::write(&tmp, bytes) {
            for (t, _) in &staged {
                let _ = std::fs::remove_file(t);
            }
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&tmp, e));
        }
        staged.push((tmp, dir.join(name)));
    }
    for (tmp, dest) in &staged {
        std::fs::rename(tmp, dest).map_err(|e| io(dest, e))?;
    }
    Ok(())
}

//! The `build.rs` entry point: convert a model into `OUT_DIR` (or any folder).
//!
//! ```no_run
//! // build.rs
//! attonet_convert::Builder::new("models/resnet8_int8.tflite")
//!     .name("resnet8")
//!     .build()
//!     .unwrap();
//! // A float model (ONNX or float TFLite) is quantized at build time from
//! // calibration samples (float32 .npy in the model's own input layout):
//! attonet_convert::Builder::new("models/attonet-d/model.onnx")
//!     .calibration("models/attonet-d/calibration.npy")
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
    calibration: Option<PathBuf>,
    options: crate::quantize::Options,
    bands: crate::planner::Bands,
    fuse: bool,
    dsp_tables: bool,
    helium: bool,
    cargo: bool,
}

impl Builder {
    /// A builder for the model at `model`.
    pub fn new(model: impl Into<PathBuf>) -> Builder {
        Builder {
            model: model.into(),
            name: None,
            out_dir: None,
            calibration: None,
            options: crate::quantize::Options::default(),
            bands: crate::planner::Bands::Free,
            fuse: true,
            dsp_tables: false,
            helium: false,
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

    /// Quantizes a float model (ONNX or float TFLite) after calibrating on
    /// these samples: a float32 (or uint8: raw pixels) `.npy` shaped
    /// `[N, ...input]` in the model's own input layout (NCHW for ONNX). The
    /// int8 model's input is NHWC, like a TFLite model's.
    pub fn calibration(mut self, samples: impl Into<PathBuf>) -> Builder {
        self.calibration = Some(samples.into());
        self
    }

    /// Output rows each fused block computes per kernel call (default: as
    /// many as fit without growing the arena). More rows cost arena and save
    /// the kernels' per-call work: the speed/RAM trade-off.
    pub fn band_rows(mut self, rows: u16) -> Builder {
        self.bands = crate::planner::Bands::Rows(rows);
        self
    }

    /// Whether residual blocks and convolution chains run as fused blocks,
    /// row by row (default: yes). `false`: every layer is its own step, the
    /// fastest plan and the largest arena.
    pub fn fuse_blocks(mut self, fuse: bool) -> Builder {
        self.fuse = fuse;
        self
    }

    /// Whether the blob also holds the tables the Cortex-M DSP kernels read
    /// in place (default: no): set it when the firmware runs on Armv7E-M
    /// (Cortex-M4, M7) or Armv8-M Mainline with DSP (M33, M55). Every stage
    /// of a fused block (which calls its kernel once per row) then carries
    /// its constants: 34 more bytes of flash a 3x3 depthwise channel, 16 an
    /// output channel of another convolution; the kernels skip deriving them
    /// on every call (KWS on M4, when they were added: 4.71 M instead of
    /// 5.44 M instructions, 14 KB more flash). Other targets ignore the
    /// tables.
    pub fn dsp_tables(mut self, yes: bool) -> Builder {
        self.dsp_tables = yes;
        self
    }

    /// With [`dsp_tables`](Builder::dsp_tables): the model is for an
    /// Armv8.1-M core with Helium (Cortex-M55, M85), whose vector kernels
    /// compute narrow grouped convolutions faster as dense ones
    /// ([`crate::assemble::DspCore::Helium`]).
    pub fn helium(mut self, yes: bool) -> Builder {
        self.helium = yes;
        self
    }

    /// The fastest plan whose arena fits `bytes`: fused blocks compute more
    /// rows per kernel call while the arena stays within the budget (never
    /// less than the smallest plan's arena).
    pub fn arena_budget(mut self, bytes: u32) -> Builder {
        self.bands = crate::planner::Bands::Budget(bytes);
        self
    }

    /// How activation ranges are chosen when quantizing (default: percentile).
    pub fn method(mut self, method: crate::quantize::Method) -> Builder {
        self.options.method = method;
        self
    }

    /// Converts and writes the files; returns the model's cost report. When
    /// run from a build script, also prints `cargo:rerun-if-changed`.
    pub fn build(self) -> Result<Report> {
        self.build_assembled().map(|(report, _)| report)
    }

    /// Like [`build`](Builder::build), and also returns the assembled model
    /// the generated files hold (quantized from the calibration samples for a
    /// float model, with the chosen plan), so a build script can run exactly
    /// that model on the host (`assembled.model().infer(..)`), e.g. to embed
    /// the host runner's outputs for the firmware to compare against.
    pub fn build_assembled(self) -> Result<(Report, crate::Assembled)> {
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
            if let Some(c) = &self.calibration {
                println!("cargo:rerun-if-changed={}", c.display());
            }
        }
        let name = self
            .name
            .unwrap_or_else(|| crate::default_name(&self.model));
        let bytes = std::fs::read(&self.model).map_err(|error| ConvertError::Io {
            path: self.model.clone(),
            error,
        })?;
        let mut assembled = match &self.calibration {
            None => crate::assemble_bytes(&bytes, &name)?,
            Some(samples) => {
                let model = crate::quantize::read_float_model(&bytes)?;
                let samples = crate::quantize::read_samples(&model, samples)?;
                crate::quantize::quantize_and_assemble(&model, &samples, &self.options, &name)?
                    .assembled
            }
        };
        if !self.fuse {
            assembled = assembled.unfused()?;
        } else if self.bands != crate::planner::Bands::Free {
            assembled = assembled.replan(self.bands)?;
        }
        if self.dsp_tables {
            let core = if self.helium {
                crate::assemble::DspCore::Helium
            } else {
                crate::assemble::DspCore::Dsp
            };
            assembled = assembled.with_dsp_tables_for(core)?;
        }
        let generated = crate::quantize::generate(&assembled, &self.model, &bytes);
        let report = Report::new(&assembled);
        write_generated(&out_dir, &generated)?;
        Ok((report, assembled))
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

#[cfg(test)]
mod tests {
    use super::Builder;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("attonet-builder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A float ONNX model with a calibration file: the returned model is the
    /// one written (same arena, same blob) and it runs on the host.
    #[test]
    fn build_assembled_returns_the_written_float_model() {
        let onnx = root().join("tests/onnx");
        let out = scratch("float");
        let (report, assembled) = Builder::new(onnx.join("cifar_resnet.onnx"))
            .calibration(onnx.join("cifar_resnet_calib.npy"))
            .name("net")
            .out_dir(&out)
            .build_assembled()
            .unwrap();
        let blob = std::fs::read(out.join("net.bin")).unwrap();
        assert_eq!(blob, assembled.blob());
        assert_eq!(report.arena_bytes, assembled.memory.arena_bytes);
        let model = assembled.model();
        let mut arena = vec![0i8; model.arena_bytes as usize];
        let input = vec![0i8; model.input.slot.shape.len()];
        let mut output = vec![0i8; model.output.slot.shape.len()];
        model.infer(&mut arena, &input, &mut output).unwrap();
        let _ = std::fs::remove_dir_all(&out);
    }

    /// A missing calibration file is an error that names it, not a panic.
    #[test]
    fn missing_calibration_names_the_file() {
        let onnx = root().join("tests/onnx");
        let out = scratch("missing");
        let error = Builder::new(onnx.join("cifar_resnet.onnx"))
            .calibration(onnx.join("no_such_calib.npy"))
            .out_dir(&out)
            .build_assembled()
            .unwrap_err()
            .to_string();
        assert!(error.contains("no_such_calib.npy"), "{error}");
        assert!(!out.join("cifar_resnet.rs").exists());
    }
}

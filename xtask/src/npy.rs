//! Minimal `.npy` (NumPy format v1.0) writer and header reader for `uint8` arrays.
//!
//! Only what the data tooling needs: C-order `|u1` arrays. Files are written atomically
//! (temporary file in the same directory, fsync, rename) so an interrupted run never leaves a
//! half-written array behind under the final name.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Encodes the v1.0 header (magic, version, length, dict, padding) for a C-order `|u1` array.
fn header(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    };
    let mut dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {dims}, }}");
    // magic(6) + version(2) + header_len(2) + dict + '\n' must be a multiple of 64.
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');

    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    let len = u16::try_from(dict.len()).expect("npy header for a small shape fits in u16");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes `data` as a C-order `uint8` array of `shape` to `path`, atomically.
pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    let count: usize = shape.iter().product();
    ensure!(
        count == data.len(),
        "internal error: shape {shape:?} holds {count} elements but {} bytes were given",
        data.len()
    );
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-").suffix(".npy");
    // tempfile creates files as 0600; give the final file the usual 0644.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        w.write_all(&header(shape))?;
        w.write_all(data)?;
        w.flush()?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming the temporary file to {}", path.display()))?;
    Ok(())
}

/// The parts of an `.npy` header that validation needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Header {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Byte offset of the array data from the start of the file.
    pub data_offset: u64,
}

/// Reads and parses the header of an `.npy` file (versions 1.0, 2.0 and 3.0).
pub fn read_header(path: &Path) -> Result<Header> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut pre = [0u8; 8];
    f.read_exact(&mut pre)
        .with_context(|| format!("{}: too short for an .npy file", path.display()))?;
    ensure!(
        &pre[..6] == MAGIC,
        "{}: not an .npy file (bad magic)",
        path.display()
    );
    let (len, prefix) = match pre[6] {
        1 => {
            let mut b = [0u8; 2];
            f.read_exact(&mut b)?;
            (usize::from(u16::from_le_bytes(b)), 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            f.read_exact(&mut b)?;
            (u32::from_le_bytes(b) as usize, 12u64)
        }
        v => bail!("{}: unsupported .npy version {v}", path.display()),
    };
    let mut dict = vec![0u8; len];
    f.read_exact(&mut dict)
        .with_context(|| format!("{}: truncated .npy header", path.display()))?;
    let dict = String::from_utf8(dict)
        .with_context(|| format!("{}: .npy header is not UTF-8", path.display()))?;
    let mut h =
        parse_dict(&dict).with_context(|| format!("{}: bad .npy header", path.display()))?;
    h.data_offset = prefix + len as u64;
    Ok(h)
}

/// Parses the Python-literal dict of an `.npy` header, e.g.
/// `{'descr': '|u1', 'fortran_order': False, 'shape': (10000, 32, 32, 3), }`.
fn parse_dict(dict: &str) -> Result<Header> {
    let value_after = |key: &str| -> Result<&str> {
        let pat = format!("'{key}':");
        let at = dict
            .find(&pat)
            .with_context(|| format!("missing key {key}"))?;
        Ok(dict[at + pat.len()..].trim_start())
    };

    let descr = value_after("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .context("descr is not a string")?
        .to_owned();

    let fortran = value_after("fortran_order")?;
    let fortran_order = if fortran.starts_with("True") {
        true
    } else if fortran.starts_with("False") {
        false
    } else {
        bail!("fortran_order is not a bool");
    };

    let shape = value_after("shape")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .context("shape is not a tuple")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .with_context(|| format!("bad dimension {s:?}"))
        })
        .collect::<Result<Vec<_>>>()?;

    Ok(Header {
        descr,
        fortran_order,
        shape,
        data_offset: 0,
    })
}

/// Checks that `path` is a complete C-order `uint8` array of exactly `shape`.
pub fn check_u8(path: &Path, shape: &[usize]) -> Result<()> {
    let h = read_header(path)?;
    ensure!(
        h.descr == "|u1" && !h.fortran_order,
        "{}: expected a C-order uint8 array, found descr {:?}, fortran_order {}",
        path.display(),
        h.descr,
        h.fortran_order
    );
    ensure!(
        h.shape == shape,
        "{}: expected shape {shape:?}, found {:?}",
        path.display(),
        h.shape
    );
    let want = h.data_offset + shape.iter().product::<usize>() as u64;
    let have = fs::metadata(path)?.len();
    ensure!(
        have == want,
        "{}: expected {want} bytes, found {have}",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_parses_back() {
        for shape in [vec![10000usize, 32, 32, 3], vec![7], vec![0, 5]] {
            let h = header(&shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            let dict = std::str::from_utf8(&h[10..]).unwrap();
            let parsed = parse_dict(dict).unwrap();
            assert_eq!(parsed.shape, shape);
            assert_eq!(parsed.descr, "|u1");
            assert!(!parsed.fortran_order);
        }
    }

    #[test]
    fn round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let data: Vec<u8> = (0..24).collect();
        write_u8(&p, &[2, 3, 4], &data).unwrap();
        check_u8(&p, &[2, 3, 4]).unwrap();
        assert!(check_u8(&p, &[2, 3, 5]).is_err());
        let bytes = fs::read(&p).unwrap();
        assert_eq!(&bytes[bytes.len() - 24..], &data[..]);
        // Truncated files are rejected.
        fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(check_u8(&p, &[2, 3, 4]).is_err());
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn wrong_shape_length_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_u8(&dir.path().join("b.npy"), &[2, 2], &[0; 3]).is_err());
    }
}

//! NumPy `.npy` files: the batch format of `attonet run` and the test data.
//!
//! Reads versions 1 to 3, C order, little-endian `int8`, `uint8`, `int16`,
//! `int32`, `int64` and `float32` arrays; writes version 1.

use std::path::Path;

use crate::error::{ConvertError, Result};

/// Element type of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyType {
    /// `|i1`.
    I8,
    /// `|u1`.
    U8,
    /// `<i2`.
    I16,
    /// `<i4`.
    I32,
    /// `<i8`.
    I64,
    /// `<f4`.
    F32,
}

impl NpyType {
    fn descr(self) -> &'static str {
        match self {
            NpyType::I8 => "|i1",
            NpyType::U8 => "|u1",
            NpyType::I16 => "<i2",
            NpyType::I32 => "<i4",
            NpyType::I64 => "<i8",
            NpyType::F32 => "<f4",
        }
    }

    fn from_descr(d: &str) -> Option<NpyType> {
        Some(match d {
            "|i1" | "<i1" | "i1" => NpyType::I8,
            "|u1" | "<u1" | "u1" => NpyType::U8,
            "<i2" => NpyType::I16,
            "<i4" => NpyType::I32,
            "<i8" => NpyType::I64,
            "<f4" => NpyType::F32,
            _ => return None,
        })
    }

    /// The array type holding a plan tensor's elements as the arena does
    /// (one byte, or little-endian words).
    pub fn of_element(t: attonet_runtime::plan::ElementType) -> NpyType {
        use attonet_runtime::plan::ElementType;
        match t {
            ElementType::Int8 => NpyType::I8,
            ElementType::UInt8 => NpyType::U8,
            ElementType::Int16 => NpyType::I16,
            ElementType::Int32 => NpyType::I32,
            ElementType::Float32 => NpyType::F32,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyType::I8 | NpyType::U8 => 1,
            NpyType::I16 => 2,
            NpyType::I32 | NpyType::F32 => 4,
            NpyType::I64 => 8,
        }
    }
}

/// An n-dimensional array: element type, shape, raw little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Element type.
    pub dtype: NpyType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Elements, C order, little-endian.
    pub data: Vec<u8>,
}

impl Array {
    /// An `int8` array.
    pub fn from_i8(shape: Vec<usize>, data: &[i8]) -> Array {
        Array {
            dtype: NpyType::I8,
            shape,
            data: data.iter().map(|&v| v as u8).collect(),
        }
    }

    /// A `float32` array.
    pub fn from_f32(shape: Vec<usize>, data: &[f32]) -> Array {
        Array {
            dtype: NpyType::F32,
            shape,
            data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// The elements as `i8` (the array must be `int8`).
    pub fn as_i8(&self) -> Option<Vec<i8>> {
        (self.dtype == NpyType::I8).then(|| self.data.iter().map(|&b| b as i8).collect())
    }

    /// The elements as `i64`, converting any integer type.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        Some(match self.dtype {
            NpyType::I8 => self.data.iter().map(|&b| b as i8 as i64).collect(),
            NpyType::U8 => self.data.iter().map(|&b| b as i64).collect(),
            NpyType::I16 => self
                .data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            NpyType::I32 => self
                .data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            NpyType::I64 => self
                .data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            NpyType::F32 => return None,
        })
    }

    /// The elements as `f32` (the array must be `float32`).
    pub fn as_f32(&self) -> Option<Vec<f32>> {
        (self.dtype == NpyType::F32).then(|| {
            self.data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }

    /// The elements as `f32` when they convert exactly: `float32` as is,
    /// `uint8` as their values (raw pixels, as a camera gives them).
    pub fn to_f32_exact(&self) -> Option<Vec<f32>> {
        match self.dtype {
            NpyType::U8 => Some(self.data.iter().map(|&b| f32::from(b)).collect()),
            _ => self.as_f32(),
        }
    }

    /// Serialises the array as a version-1 `.npy` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = match self.shape.len() {
            1 => format!("({},)", self.shape[0]),
            _ => format!(
                "({})",
                self.shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.dtype.descr()
        );
        // Pad so the data starts on a 64-byte boundary, header ends in '\n'.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.data.len());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Parses a `.npy` file's bytes; `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Array> {
        let bad = |msg: String| ConvertError::Format(format!("{what}: {msg}"));
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
        }
        let (header_len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(bad(format!("unsupported .npy version {v}"))),
        };
        let end = start
            .checked_add(header_len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("header runs past the end of the file".into()))?;
        let header = std::str::from_utf8(&bytes[start..end])
            .map_err(|_| bad("header is not text".into()))?;
        let field = |key: &str| -> Option<&str> {
            let at = header.find(&format!("'{key}'"))?;
            let rest = &header[at + key.len() + 2..];
            let rest = rest.trim_start().strip_prefix(':')?.trim_start();
            Some(rest)
        };
        let descr = field("descr")
            .and_then(|r| r.strip_prefix('\''))
            .and_then(|r| r.split('\'').next())
            .ok_or_else(|| bad("header has no 'descr'".into()))?;
        let dtype = NpyType::from_descr(descr).ok_or_else(|| {
            bad(format!(
                "element type '{descr}' is not supported (int8, uint8, int32, int64, float32 are)"
            ))
        })?;
        if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
            return Err(bad("Fortran-order arrays are not supported".into()));
        }
        let shape_text = field("shape")
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.split(')').next())
            .ok_or_else(|| bad("header has no 'shape'".into()))?;
        let shape = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| bad(format!("bad dimension '{s}' in shape")))
            })
            .collect::<Result<Vec<_>>>()?;
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| bad("shape overflows".into()))?;
        let data = &bytes[end..];
        if data.len() != count {
            return Err(bad(format!(
                "shape {shape:?} needs {count} bytes of data, the file holds {}",
                data.len()
            )));
        }
        Ok(Array {
            dtype,
            shape,
            data: data.to_vec(),
        })
    }

    /// Reads a `.npy` file.
    pub fn read(path: &Path) -> Result<Array> {
        let bytes = std::fs::read(path).map_err(|source| ConvertError::Io {
            path: path.to_path_buf(),
            error: source,
        })?;
        Array::parse(&bytes, &path.display().to_string())
    }

    /// Writes a `.npy` file atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source| ConvertError::Io {
            path: path.to_path_buf(),
            error: source,
        };
        let tmp = path.with_extension(format!("npy.tmp{}", std::process::id()));
        std::fs::write(&tmp, self.to_bytes()).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = Array::from_i8(vec![2, 3], &[1, -2, 3, -4, 5, -128]);
        let b = Array::parse(&a.to_bytes(), "x").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            (a.to_bytes().len() - 6) % 64,
            0,
            "data starts on a 64-byte boundary"
        );
        let c = Array::from_f32(vec![4], &[1.0, -2.5, 0.0, 3.25]);
        assert_eq!(
            Array::parse(&c.to_bytes(), "y").unwrap().as_f32().unwrap(),
            vec![1.0, -2.5, 0.0, 3.25]
        );
    }

    #[test]
    fn rejects_bad_files() {
        assert!(Array::parse(b"hello", "x").is_err());
        let mut bytes = Array::from_i8(vec![4], &[1, 2, 3, 4]).to_bytes();
        bytes.pop();
        let err = Array::parse(&bytes, "x").unwrap_err().to_string();
        assert!(err.contains("needs 4 bytes"), "{err}");
    }
}

//! A small, bounds-checked reader for FlatBuffers binaries.
//!
//! It reads only what a schema-driven caller asks for: tables (through their
//! vtables), scalars with schema defaults, vectors of scalars, vectors of
//! tables, strings and unions. Every position, offset and length is checked
//! against the buffer before use (with overflow-checked arithmetic), so a
//! truncated or corrupt buffer yields an [`FbError`] instead of a panic, and
//! nothing is allocated here at all: vectors and strings are borrowed views
//! whose lengths have already been checked against the bytes that hold them.
//! Alignment is not required (FlatBuffers writers align, but a reader need
//! not rely on it).
//!
//! The reader is not recursive: each call looks at one object. FlatBuffers
//! references between objects (`uoffset`) point forward only, so a chain of
//! references cannot loop; the only backward pointer is a table's vtable
//! offset, which is followed exactly once per table. A caller driven by a
//! fixed, non-recursive schema (as TFLite's is, for the parts we read) thus
//! has a nesting depth fixed by the schema.

use std::fmt;
use std::marker::PhantomData;

/// Why a FlatBuffers object could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FbError(String);

impl FbError {
    /// An error with the given description.
    pub fn new(message: impl Into<String>) -> Self {
        FbError(message.into())
    }

    /// The description of what is wrong (without context).
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FbError {}

/// Result of a FlatBuffers read.
pub type FbResult<T> = Result<T, FbError>;

/// `len` bytes at `pos`, or an error naming `what` when they are not all there.
fn slice<'a>(buf: &'a [u8], pos: usize, len: usize, what: &str) -> FbResult<&'a [u8]> {
    pos.checked_add(len)
        .and_then(|end| buf.get(pos..end))
        .ok_or_else(|| {
            FbError::new(format!(
                "{what} at byte {pos} ({len} bytes) extends past the end of the buffer ({} bytes)",
                buf.len()
            ))
        })
}

fn array<const N: usize>(buf: &[u8], pos: usize, what: &str) -> FbResult<[u8; N]> {
    let mut out = [0u8; N];
    out.copy_from_slice(slice(buf, pos, N, what)?);
    Ok(out)
}

fn read_u16(buf: &[u8], pos: usize, what: &str) -> FbResult<u16> {
    array(buf, pos, what).map(u16::from_le_bytes)
}

fn read_u32(buf: &[u8], pos: usize, what: &str) -> FbResult<u32> {
    array(buf, pos, what).map(u32::from_le_bytes)
}

fn read_i32(buf: &[u8], pos: usize, what: &str) -> FbResult<i32> {
    array(buf, pos, what).map(i32::from_le_bytes)
}

/// Follows the `uoffset` stored at `pos`: the target is `pos + offset`,
/// which must lie inside the buffer.
fn follow(buf: &[u8], pos: usize, what: &str) -> FbResult<usize> {
    let offset = read_u32(buf, pos, what)?;
    let target = usize::try_from(offset)
        .ok()
        .and_then(|o| pos.checked_add(o))
        .filter(|&t| t < buf.len())
        .ok_or_else(|| {
            FbError::new(format!(
                "{what}: offset {offset} at byte {pos} points past the end of the buffer ({} bytes)",
                buf.len()
            ))
        })?;
    Ok(target)
}

/// The 4-byte file identifier of a buffer (bytes 4..8), if it is long enough.
pub fn file_identifier(buf: &[u8]) -> Option<[u8; 4]> {
    array(buf, 4, "file identifier").ok()
}

/// The root table of a buffer (the `uoffset` at byte 0).
pub fn root(buf: &[u8]) -> FbResult<Table<'_>> {
    let pos = follow(buf, 0, "root table offset")?;
    Table::at(buf, pos)
}

/// A scalar type that can be stored in a table field or a vector.
pub trait Scalar: Copy + 'static {
    /// Size in bytes.
    const SIZE: usize;
    /// Decodes a little-endian value from exactly `SIZE` bytes.
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}

scalar!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

impl Scalar for bool {
    const SIZE: usize = 1;
    fn from_le(bytes: &[u8]) -> Self {
        bytes.first().is_some_and(|&b| b != 0)
    }
}

/// A table: an object whose fields are located through its vtable.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_size: usize,
    table_size: usize,
}

impl<'a> Table<'a> {
    /// The table starting at byte `pos`, after checking that its vtable and
    /// its inline data lie inside the buffer and that the vtable is well formed.
    pub fn at(buf: &'a [u8], pos: usize) -> FbResult<Self> {
        let soffset = read_i32(buf, pos, "table")?;
        // vtable = pos - soffset, computed in i64 so nothing overflows.
        let vtable = i64::try_from(pos)
            .ok()
            .and_then(|p| p.checked_sub(i64::from(soffset)))
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&v| v < buf.len())
            .ok_or_else(|| {
                FbError::new(format!(
                    "table at byte {pos}: its vtable offset {soffset} points outside the buffer ({} bytes)",
                    buf.len()
                ))
            })?;
        let vtable_size = usize::from(read_u16(buf, vtable, "vtable size")?);
        let table_size = usize::from(read_u16(buf, vtable.saturating_add(2), "table size")?);
        if vtable_size < 4 || vtable_size % 2 != 0 {
            return Err(FbError::new(format!(
                "table at byte {pos}: its vtable at byte {vtable} has invalid size {vtable_size} (must be even and at least 4)"
            )));
        }
        slice(buf, vtable, vtable_size, "vtable")?;
        if table_size < 4 {
            return Err(FbError::new(format!(
                "table at byte {pos}: its vtable at byte {vtable} gives invalid table size {table_size} (must be at least 4)"
            )));
        }
        slice(buf, pos, table_size, "table")?;
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_size,
            table_size,
        })
    }

    /// Byte position of the table in the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Absolute byte position of field `slot` (0-based, in schema order,
    /// counting a union as two fields), or `None` when the field is absent.
    /// The field's `size` bytes must lie within the table's inline data.
    pub fn field_pos(&self, slot: usize, size: usize) -> FbResult<Option<usize>> {
        let entry = slot
            .checked_mul(2)
            .and_then(|e| e.checked_add(4))
            .unwrap_or(usize::MAX);
        if entry.saturating_add(2) > self.vtable_size {
            return Ok(None);
        }
        let offset = usize::from(read_u16(self.buf, self.vtable + entry, "vtable entry")?);
        if offset == 0 {
            return Ok(None);
        }
        if offset < 4 || offset.saturating_add(size) > self.table_size {
            return Err(FbError::new(format!(
                "table at byte {}: field {slot} at table offset {offset} ({size} bytes) lies outside the table's {} bytes",
                self.pos, self.table_size
            )));
        }
        Ok(Some(self.pos + offset))
    }

    /// A scalar field, or `default` when absent.
    pub fn scalar<T: Scalar>(&self, slot: usize, default: T) -> FbResult<T> {
        match self.field_pos(slot, T::SIZE)? {
            None => Ok(default),
            Some(pos) => Ok(T::from_le(slice(self.buf, pos, T::SIZE, "field")?)),
        }
    }

    /// Follows an offset field, returning the target position.
    fn target(&self, slot: usize, what: &str) -> FbResult<Option<usize>> {
        match self.field_pos(slot, 4)? {
            None => Ok(None),
            Some(pos) => follow(self.buf, pos, what).map(Some),
        }
    }

    /// A sub-table field.
    pub fn table(&self, slot: usize) -> FbResult<Option<Table<'a>>> {
        match self.target(slot, "table field")? {
            None => Ok(None),
            Some(pos) => Table::at(self.buf, pos).map(Some),
        }
    }

    /// A vector-of-scalars field.
    pub fn vector<T: Scalar>(&self, slot: usize) -> FbResult<Option<Vector<'a, T>>> {
        match self.target(slot, "vector field")? {
            None => Ok(None),
            Some(pos) => Vector::at(self.buf, pos).map(Some),
        }
    }

    /// A vector-of-tables field.
    pub fn tables(&self, slot: usize) -> FbResult<Option<TableVector<'a>>> {
        match self.target(slot, "vector field")? {
            None => Ok(None),
            Some(pos) => TableVector::at(self.buf, pos).map(Some),
        }
    }

    /// A string field, as raw bytes (FlatBuffers strings are meant to be
    /// UTF-8 but nothing guarantees it).
    pub fn string(&self, slot: usize) -> FbResult<Option<&'a [u8]>> {
        match self.target(slot, "string field")? {
            None => Ok(None),
            Some(pos) => string_at(self.buf, pos).map(Some),
        }
    }

    /// A union: its type field (at `type_slot`, a `u8` defaulting to 0 =
    /// NONE) and its value table (at `type_slot + 1`).
    pub fn union(&self, type_slot: usize) -> FbResult<Union<'a>> {
        let kind: u8 = self.scalar(type_slot, 0)?;
        let table = if kind == 0 {
            None
        } else {
            self.table(type_slot + 1)?
        };
        Ok(Union { kind, table })
    }
}

/// A union value: its type code (0 = NONE) and its table, if present.
#[derive(Debug, Clone, Copy)]
pub struct Union<'a> {
    /// The union's type code; 0 means NONE.
    pub kind: u8,
    /// The value table; `None` when the type is NONE or the value is missing.
    pub table: Option<Table<'a>>,
}

fn vector_body(buf: &[u8], pos: usize, elem_size: usize) -> FbResult<(usize, &[u8])> {
    let len = read_u32(buf, pos, "vector length")?;
    let count = usize::try_from(len).unwrap_or(usize::MAX);
    let bytes = count.checked_mul(elem_size).ok_or_else(|| {
        FbError::new(format!(
            "vector at byte {pos}: {len} elements of {elem_size} bytes overflow"
        ))
    })?;
    let start = pos + 4;
    let body = start
        .checked_add(bytes)
        .and_then(|end| buf.get(start..end))
        .ok_or_else(|| {
            FbError::new(format!(
                "vector at byte {pos}: {len} elements of {elem_size} bytes extend past the end of the buffer ({} bytes)",
                buf.len()
            ))
        })?;
    Ok((count, body))
}

fn string_at(buf: &[u8], pos: usize) -> FbResult<&[u8]> {
    let (_, body) =
        vector_body(buf, pos, 1).map_err(|e| FbError::new(format!("string: {}", e.message())))?;
    Ok(body)
}

/// A vector of scalars whose bytes have been bounds-checked.
#[derive(Debug, Clone, Copy)]
pub struct Vector<'a, T> {
    bytes: &'a [u8],
    len: usize,
    _elem: PhantomData<T>,
}

impl<'a, T: Scalar> Vector<'a, T> {
    /// The vector starting (with its length) at byte `pos`.
    pub fn at(buf: &'a [u8], pos: usize) -> FbResult<Self> {
        let (len, bytes) = vector_body(buf, pos, T::SIZE)?;
        Ok(Vector {
            bytes,
            len,
            _elem: PhantomData,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vector is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element bytes, little-endian.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Element `i`, if in range.
    pub fn get(&self, i: usize) -> Option<T> {
        let start = i.checked_mul(T::SIZE)?;
        let end = start.checked_add(T::SIZE)?;
        self.bytes.get(start..end).map(T::from_le)
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + 'a {
        self.bytes.chunks_exact(T::SIZE).map(T::from_le)
    }
}

/// A vector of tables (each element a `uoffset` to a table).
#[derive(Debug, Clone, Copy)]
pub struct TableVector<'a> {
    buf: &'a [u8],
    start: usize,
    len: usize,
}

impl<'a> TableVector<'a> {
    /// The vector starting (with its length) at byte `pos`.
    pub fn at(buf: &'a [u8], pos: usize) -> FbResult<Self> {
        let (len, _) = vector_body(buf, pos, 4)?;
        Ok(TableVector {
            buf,
            start: pos + 4,
            len,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vector is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Table `i`.
    pub fn get(&self, i: usize) -> FbResult<Table<'a>> {
        if i >= self.len {
            return Err(FbError::new(format!(
                "element {i} of a {}-element vector",
                self.len
            )));
        }
        // In range: the vector body was checked to hold `len` 4-byte elements.
        let pos = self.start + 4 * i;
        let target = follow(self.buf, pos, "vector element")?;
        Table::at(self.buf, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table at byte 8 with vtable at byte 0: two fields, a u32 at table
    /// offset 4 and an offset (to a vector at byte 16) at table offset 8.
    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&8u16.to_le_bytes()); // vtable size
        b.extend_from_slice(&12u16.to_le_bytes()); // table size
        b.extend_from_slice(&4u16.to_le_bytes()); // field 0
        b.extend_from_slice(&8u16.to_le_bytes()); // field 1
        b.extend_from_slice(&8i32.to_le_bytes()); // table @8: soffset -> vtable @0
        b.extend_from_slice(&77u32.to_le_bytes()); // field 0 @12
        b.extend_from_slice(&4u32.to_le_bytes()); // field 1 @16 -> 20
        b.extend_from_slice(&3u32.to_le_bytes()); // vector @20, len 3
        for v in [1i32, -2, 3] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_fields_and_defaults() {
        let b = sample();
        let t = Table::at(&b, 8).unwrap();
        assert_eq!(t.scalar::<u32>(0, 5).unwrap(), 77);
        assert_eq!(t.scalar::<u32>(2, 5).unwrap(), 5);
        assert_eq!(t.scalar::<u32>(1000, 9).unwrap(), 9);
        let v = t.vector::<i32>(1).unwrap().unwrap();
        assert_eq!(v.iter().collect::<Vec<_>>(), vec![1, -2, 3]);
        assert_eq!(v.get(1), Some(-2));
        assert_eq!(v.get(3), None);
    }

    #[test]
    fn rejects_bad_structure() {
        let b = sample();
        // Lying vector length.
        let mut c = b.clone();
        c[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        let t = Table::at(&c, 8).unwrap();
        assert!(t.vector::<i32>(1).is_err());
        // Vtable pointing outside.
        let mut c = b.clone();
        c[8..12].copy_from_slice(&i32::MIN.to_le_bytes());
        assert!(Table::at(&c, 8).is_err());
        c[8..12].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(Table::at(&c, 8).is_err());
        // Odd vtable size.
        let mut c = b.clone();
        c[0] = 7;
        assert!(Table::at(&c, 8).is_err());
        // Field outside the table.
        let mut c = b.clone();
        c[4..6].copy_from_slice(&200u16.to_le_bytes());
        let t = Table::at(&c, 8).unwrap();
        assert!(t.scalar::<u32>(0, 0).is_err());
        // Offset past the end.
        let mut c = b;
        c[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        let t = Table::at(&c, 8).unwrap();
        assert!(t.vector::<i32>(1).is_err());
        assert!(Table::at(&c, usize::MAX - 1).is_err());
    }
}

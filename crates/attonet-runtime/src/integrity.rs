//! Flash integrity: a CRC-32 of a model's weight blob and plan, so firmware
//! can tell at boot that the bits in flash are still the ones the converter
//! wrote ([`crate::plan::Model::verify`]).
//!
//! The checksum covers, in this order: the blob's bytes, then every field of
//! the plan by value through [`core::hash::Hash`] (the steps, the fused
//! blocks' stages, the arena size, the inputs and outputs), each integer as
//! little-endian bytes and every length and enum discriminant as 8 bytes,
//! so the host (where the converter computes it) and a 32-bit target agree.
//! Not covered: the model's name and its `dispatch` function (code, not data).
//!
//! The CRC is CRC-32/ISO-HDLC (zlib's and Ethernet's: reflected polynomial
//! `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`), computed four
//! bits at a time from a 16-entry table (64 bytes of flash).

use core::hash::Hasher;

/// CRC-32 of the low nibble values, reflected polynomial `0xEDB88320`.
const NIBBLE: [u32; 16] = nibble_table();

const fn nibble_table() -> [u32; 16] {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// A running CRC-32 (see the module documentation), also a [`Hasher`] that
/// feeds what it is given into the CRC in a layout that does not depend on
/// the target's word size.
#[derive(Debug, Clone, Copy)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A CRC over no bytes yet.
    pub const fn new() -> Self {
        Crc32 { state: !0 }
    }

    /// Adds `bytes`. Never inlined: the plan's hash calls it once a field,
    /// and one copy keeps that code small.
    #[inline(never)]
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.state;
        for &b in bytes {
            c ^= b as u32;
            c = (c >> 4) ^ NIBBLE[(c & 0xF) as usize];
            c = (c >> 4) ^ NIBBLE[(c & 0xF) as usize];
        }
        self.state = c;
    }

    /// The CRC of every byte added.
    pub const fn value(&self) -> u32 {
        !self.state
    }
}

impl Hasher for Crc32 {
    fn finish(&self) -> u64 {
        self.value() as u64
    }
    fn write(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
    fn write_u8(&mut self, n: u8) {
        self.update(&[n]);
    }
    #[inline(never)]
    fn write_u16(&mut self, n: u16) {
        self.update(&n.to_le_bytes());
    }
    #[inline(never)]
    fn write_u32(&mut self, n: u32) {
        self.update(&n.to_le_bytes());
    }
    #[inline(never)]
    fn write_u64(&mut self, n: u64) {
        self.update(&n.to_le_bytes());
    }
    fn write_u128(&mut self, n: u128) {
        self.update(&n.to_le_bytes());
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_i8(&mut self, n: i8) {
        self.write_u8(n as u8);
    }
    fn write_i16(&mut self, n: i16) {
        self.write_u16(n as u16);
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u32(n as u32);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn write_i128(&mut self, n: i128) {
        self.write_u128(n as u128);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as i64 as u64);
    }
}

/// The CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_check_value() {
        // The CRC catalogue's check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // zlib.crc32(b"The quick brown fox jumps over the lazy dog")
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn every_single_bit_flip_changes_it() {
        let data: [u8; 64] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5A);
        let good = crc32(&data);
        for byte in 0..data.len() {
            for bit in 0..8 {
                let mut d = data;
                d[byte] ^= 1 << bit;
                assert_ne!(crc32(&d), good, "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn word_sizes_do_not_matter() {
        let mut a = Crc32::new();
        a.write_usize(7);
        a.write_isize(-1);
        let mut b = Crc32::new();
        b.write_u64(7);
        b.write_i64(-1);
        assert_eq!(a.value(), b.value());
    }
}

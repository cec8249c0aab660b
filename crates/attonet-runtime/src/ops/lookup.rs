//! Element-wise unary int8 operators as one 256-entry lookup table.
//!
//! For an int8 input, LOGISTIC, TANH, HARD_SWISH, RELU, RELU6,
//! RELU_N1_TO_1, LEAKY_RELU, an int8 -> int8 QUANTIZE (and the ONNX
//! activations our quantizer lowers: Sigmoid, Tanh, HardSigmoid, HardSwish,
//! LeakyRelu, Relu, Clip) are each a function of the input byte alone. The
//! converter runs TensorFlow Lite Micro's integer reference arithmetic once
//! for each of the 256 inputs (so the table is bit-exact by construction) and
//! the kernel only looks the answers up: `out[i] = table[in[i] as u8]`.
//!
//! * Layout: any; the op is element-wise over the flat tensor.
//! * Table: 256 `i8`, indexed by the input's two's-complement byte
//!   (`table[0]` is the output for input 0, `table[255]` for input -1).
//! * Scratch: none. In place ([`lookup_s8_in_place`]) when the input dies.
//! * Speed: four elements a word (one word load, four table loads, one word
//!   store) where the buffers allow; the table index is a `u8`, so no bounds
//!   check is left in the loop.

use crate::error::check_len;
use crate::Error;

/// Entries of a lookup table: one per int8 input.
pub const TABLE_LEN: usize = 256;

/// The table as an array (so indexing with a `u8` needs no bounds check).
fn table_array(table: &[i8]) -> crate::Result<&[i8; TABLE_LEN]> {
    table
        .try_into()
        .map_err(|_| Error::Shape("lookup table must have 256 entries"))
}

#[inline(always)]
fn look(t: &[i8; TABLE_LEN], x: u8) -> u8 {
    t[x as usize] as u8
}

/// Four lookups on the bytes of a little-endian word.
#[inline(always)]
fn look4(t: &[i8; TABLE_LEN], w: u32) -> u32 {
    look(t, w as u8) as u32
        | (look(t, (w >> 8) as u8) as u32) << 8
        | (look(t, (w >> 16) as u8) as u32) << 16
        | (look(t, (w >> 24) as u8) as u32) << 24
}

/// `output[i] = table[input[i] as u8]`.
///
/// * Constraints: `table.len() == 256` ([`Error::Shape`] otherwise), `output`
///   as long as `input` ([`Error::BufferLength`]); any alignment.
pub fn lookup_s8(table: &[i8], input: &[i8], output: &mut [i8]) -> crate::Result {
    let t = table_array(table)?;
    check_len("lookup output", output, input.len())?;
    let mut ins = input.chunks_exact(4);
    let mut outs = output.chunks_exact_mut(4);
    for (i, o) in (&mut ins).zip(&mut outs) {
        let w = u32::from_le_bytes([i[0] as u8, i[1] as u8, i[2] as u8, i[3] as u8]);
        let r = look4(t, w).to_le_bytes();
        o[0] = r[0] as i8;
        o[1] = r[1] as i8;
        o[2] = r[2] as i8;
        o[3] = r[3] as i8;
    }
    for (o, &x) in outs.into_remainder().iter_mut().zip(ins.remainder()) {
        *o = look(t, x as u8) as i8;
    }
    Ok(())
}

/// `data[i] = table[data[i] as u8]`, in place.
///
/// * Constraints: `table.len() == 256` ([`Error::Shape`] otherwise); any
///   length and alignment.
pub fn lookup_s8_in_place(table: &[i8], data: &mut [i8]) -> crate::Result {
    let t = table_array(table)?;
    let mut words = data.chunks_exact_mut(4);
    for d in &mut words {
        let w = u32::from_le_bytes([d[0] as u8, d[1] as u8, d[2] as u8, d[3] as u8]);
        let r = look4(t, w).to_le_bytes();
        d[0] = r[0] as i8;
        d[1] = r[1] as i8;
        d[2] = r[2] as i8;
        d[3] = r[3] as i8;
    }
    for d in words.into_remainder() {
        *d = look(t, *d as u8) as i8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> [i8; TABLE_LEN] {
        // A table that tells every input apart: out = 3 * in + 7 (wrapping).
        core::array::from_fn(|b| (b as u8 as i8).wrapping_mul(3).wrapping_add(7))
    }

    fn expected(x: i8) -> i8 {
        x.wrapping_mul(3).wrapping_add(7)
    }

    #[test]
    fn every_length_and_offset_matches_the_byte_loop() {
        let t = table();
        let input: [i8; 64] = core::array::from_fn(|i| (i as i32 * 37 - 128) as i8);
        for start in 0..5 {
            for len in 0..(64 - start) {
                let x = &input[start..start + len];
                let mut out = [0i8; 64];
                lookup_s8(&t, x, &mut out[start..start + len]).unwrap();
                for k in 0..len {
                    assert_eq!(
                        out[start + k],
                        expected(x[k]),
                        "start {start} len {len} k {k}"
                    );
                }
                let mut data = input;
                lookup_s8_in_place(&t, &mut data[start..start + len]).unwrap();
                for k in 0..64 {
                    let want = if (start..start + len).contains(&k) {
                        expected(input[k])
                    } else {
                        input[k]
                    };
                    assert_eq!(data[k], want, "in place: start {start} len {len} k {k}");
                }
            }
        }
    }

    #[test]
    fn all_256_inputs() {
        let t = table();
        let input: [i8; 256] = core::array::from_fn(|b| b as u8 as i8);
        let mut out = [0i8; 256];
        lookup_s8(&t, &input, &mut out).unwrap();
        for (x, y) in input.iter().zip(out) {
            assert_eq!(y, expected(*x));
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let t = table();
        let mut out = [0i8; 3];
        assert!(matches!(
            lookup_s8(&t[..255], &[1, 2, 3], &mut out),
            Err(Error::Shape(_))
        ));
        assert!(lookup_s8(&t, &[1, 2, 3, 4], &mut out).is_err());
        assert!(lookup_s8_in_place(&[0; 257], &mut out).is_err());
        assert!(lookup_s8(&t, &[], &mut []).is_ok());
    }
}

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
    extern crate std;

    use super::*;

    /// The int16 piecewise rescale against its formula: RELU (one
    /// multiplier, clamped at the output zero), LEAKY_RELU (a second
    /// multiplier below the input zero point) and the RELU6 identity
    /// (`(2^30, 1)` leaves every int16 value as it is).
    #[test]
    fn piecewise_s16_rescales_each_side() {
        use super::super::int16::Clamp16;
        use crate::quant::requantize;
        let xs: [i16; 8] = [-32768, -20000, -3, -1, 0, 1, 7, 32767];
        let bytes: std::vec::Vec<i8> = xs
            .iter()
            .flat_map(|v| v.to_le_bytes().map(|b| b as i8))
            .collect();
        let cases = [
            // RELU: 0.6, clamped at 0.
            (
                1_288_490_189,
                -0,
                1_288_490_189,
                -0,
                Clamp16 {
                    min: 0,
                    max: i16::MAX,
                },
            ),
            // LEAKY_RELU: 1.5 above, 0.1 below.
            (1_610_612_736, 1, 1_717_986_918, -3, Clamp16::NONE),
            // RELU6 between 0 and 900.
            (1 << 30, 1, 1 << 30, 1, Clamp16 { min: 0, max: 900 }),
        ];
        for (mp, sp, mn, sn, clamp) in cases {
            let p = PiecewiseS16Params {
                input_zero_point: 0,
                output_zero_point: 0,
                positive: (mp, sp),
                negative: (mn, sn),
                clamp,
            };
            let mut out = std::vec![0i8; bytes.len()];
            piecewise_s16(&p, &bytes, &mut out).unwrap();
            for (k, &x) in xs.iter().enumerate() {
                let v = x as i32;
                let (m, s) = if v >= 0 { (mp, sp) } else { (mn, sn) };
                let want = requantize(v, m, s).clamp(clamp.min as i32, clamp.max as i32) as i16;
                let got = i16::from_le_bytes([out[2 * k] as u8, out[2 * k + 1] as u8]);
                assert_eq!(got, want, "{x} with {p:?}");
            }
        }
        // The identity pair is exact over the whole int16 range.
        for v in [i16::MIN as i32, -12345, -1, 0, 1, 12345, i16::MAX as i32] {
            assert_eq!(requantize(v, 1 << 30, 1), v);
        }
        // A short output is refused, never written past.
        let p = PiecewiseS16Params {
            input_zero_point: 0,
            output_zero_point: 0,
            positive: (1 << 30, 1),
            negative: (1 << 30, 1),
            clamp: Clamp16::NONE,
        };
        assert!(piecewise_s16(&p, &bytes, &mut [0i8; 4]).is_err());
    }

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

/// `sigmoid(i / 24)` in unsigned 0.16 fixed point for `i` in `0..256`: the
/// table TensorFlow Lite Micro's int16 LOGISTIC and TANH interpolate
/// (`sigmoid_table_uint16`; its values as TFLM ships them, which a plain
/// rounding of the function misses by one in 44 places, so they are data
/// here, not computed). `tanh(x) = 2 sigmoid(2x) - 1` lets TANH share it.
const SIGMOID_TABLE_U16: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// Input scaling of an int16 LOGISTIC or TANH, as TFLM's Prepare computes
/// it: a power-of-two input scale gives `input_multiplier == 0` (the kernel
/// then scales by `3 << input_left_shift`), any other scale a multiplier
/// below 2^15 and a left shift that bring the input to steps of
/// 1 / (3 * 4096).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SigmoidS16Params {
    /// The input multiplier (0: the power-of-two case).
    pub input_multiplier: i32,
    /// The right shift after it (`0..=31`).
    pub input_left_shift: i32,
}

impl SigmoidS16Params {
    /// The multiplier, shift and rounding term the kernels apply.
    pub(crate) fn scaling(&self) -> crate::Result<(i32, u32, i32)> {
        let (m, s) = if self.input_multiplier == 0 {
            if !(0..=12).contains(&self.input_left_shift) {
                return Err(crate::Error::Parameter("int16 sigmoid shift out of range"));
            }
            (3 << self.input_left_shift, 0)
        } else {
            (self.input_multiplier, self.input_left_shift)
        };
        if !(0..=32767).contains(&m) || !(0..=31).contains(&s) {
            return Err(crate::Error::Parameter(
                "int16 sigmoid multiplier or shift out of range",
            ));
        }
        let round = if s > 0 { 1i32 << (s - 1) } else { 0 };
        Ok((m, s as u32, round))
    }
}

/// int16 LOGISTIC: TFLite Micro's `reference_integer_ops::Logistic` for
/// int16, exactly: the input scaled to steps of 1/(3 * 4096) (rounding
/// half up), `|x|` split into a table index (`>> 9`) and a 9-bit fraction,
/// a linear interpolation in `SIGMOID_TABLE_U16` (saturating from index
/// 255 on), mirrored for negative inputs, and narrowed to Q0.15.
///
/// * Layout: `input` and `output` flat int16 buffers of the same length
///   (the output scale is 2^-15, zero point 0).
/// * Scratch: none.
pub fn logistic_s16(p: &SigmoidS16Params, input: &[i8], output: &mut [i8]) -> crate::Result {
    use super::int16::{elements, load, store};
    let (m, s, round) = p.scaling()?;
    let n = elements("int16 input", input)?;
    crate::error::check_len("int16 output", output, input.len())?;
    for i in 0..n {
        store(
            output,
            i,
            sigmoid16((load(input, i) as i32 * m + round) >> s),
        );
    }
    Ok(())
}

/// The int16 sigmoid of one input already scaled to steps of 1/(3 * 4096)
/// ([`logistic_s16`]'s core; the LSTM's gates use it too), in Q0.15.
#[inline]
pub(crate) fn sigmoid16(x: i32) -> i16 {
    let abs = x.unsigned_abs();
    let uh = (abs >> 9) as usize;
    let result: u32 = if uh >= 255 {
        0x7FFF << 10
    } else {
        let ua = SIGMOID_TABLE_U16[uh] as u32;
        let ub = SIGMOID_TABLE_U16[uh + 1] as u32;
        let ut = abs & 0x1ff;
        (ua << 9).wrapping_add(ut.wrapping_mul(ub.wrapping_sub(ua)))
    };
    let result = if x >= 0 {
        result.wrapping_add(1 << 9)
    } else {
        (1u32 << 25)
            .wrapping_sub(result)
            .wrapping_add(1 << 9)
            .wrapping_sub(1)
    };
    (result >> 10) as i16
}

/// int16 TANH: TFLite Micro's `reference_integer_ops::Tanh` for int16,
/// exactly: as [`logistic_s16`] with `tanh(x) = 2 sigmoid(2x) - 1`: an
/// 8-bit fraction (`|x| >> 8` indexes the table), the result recentred on
/// 0 and narrowed to Q0.15.
///
/// * Layout: `input` and `output` flat int16 buffers of the same length
///   (the output scale is 2^-15, zero point 0).
/// * Scratch: none.
pub fn tanh_s16(p: &SigmoidS16Params, input: &[i8], output: &mut [i8]) -> crate::Result {
    use super::int16::{elements, load, store};
    let (m, s, round) = p.scaling()?;
    let n = elements("int16 input", input)?;
    crate::error::check_len("int16 output", output, input.len())?;
    for i in 0..n {
        store(output, i, tanh16((load(input, i) as i32 * m + round) >> s));
    }
    Ok(())
}

/// The int16 tanh of one input already scaled as [`tanh_s16`] scales it
/// (its core; the LSTM's cell gate and cell state use it too), in Q0.15.
#[inline]
pub(crate) fn tanh16(x: i32) -> i16 {
    let abs = x.unsigned_abs();
    let uh = (abs >> 8) as usize;
    let result: i32 = if uh >= 255 {
        0xFFFF << 8
    } else {
        let ua = SIGMOID_TABLE_U16[uh] as u32;
        let ub = SIGMOID_TABLE_U16[uh + 1] as u32;
        let ut = abs & 0xFF;
        (ua << 8).wrapping_add(ut.wrapping_mul(ub.wrapping_sub(ua))) as i32
    };
    let result = if x >= 0 {
        result - (1 << 23) + (1 << 7)
    } else {
        -result + (1 << 23) + (1 << 7) - 1
    };
    (result >> 8) as i16
}

#[cfg(test)]
mod s16_tests {
    use super::*;
    use crate::ops::int16::{load, store};

    fn run(
        f: fn(&SigmoidS16Params, &[i8], &mut [i8]) -> crate::Result,
        p: &SigmoidS16Params,
        x: i16,
    ) -> i16 {
        let mut input = [0i8; 2];
        store(&mut input, 0, x);
        let mut out = [0i8; 2];
        f(p, &input, &mut out).unwrap();
        load(&out, 0)
    }

    /// Input scale 2^-12 (the power-of-two case, shift 0): 0 maps to one
    /// half (and to 0 for TANH), and every input lies within one step of
    /// the real function of x / 4096 in Q0.15.
    #[test]
    fn power_of_two_scale_tracks_the_functions() {
        let p = SigmoidS16Params {
            input_multiplier: 0,
            input_left_shift: 0,
        };
        assert_eq!(run(logistic_s16, &p, 0), 16384);
        assert_eq!(run(tanh_s16, &p, 0), 0);
        for x in (i16::MIN..=i16::MAX).step_by(97) {
            let r = x as f64 / 4096.0;
            let sig = (32768.0 / (1.0 + (-r).exp())).min(32767.0);
            let tanh = (32768.0 * r.tanh()).clamp(-32768.0, 32767.0);
            assert!((run(logistic_s16, &p, x) as f64 - sig).abs() <= 1.5, "{x}");
            assert!((run(tanh_s16, &p, x) as f64 - tanh).abs() <= 2.5, "{x}");
        }
    }

    /// A scaled input past the table's end (index 255 on) saturates at
    /// 32767, and at -32767 (TANH) or 1 (LOGISTIC): TFLM mirrors its
    /// saturated value, one step short of the range's end.
    #[test]
    fn inputs_past_the_table_saturate() {
        let p = SigmoidS16Params {
            input_multiplier: 32767,
            input_left_shift: 0,
        };
        assert_eq!(run(logistic_s16, &p, i16::MAX), 32767);
        assert_eq!(run(logistic_s16, &p, i16::MIN), 1);
        assert_eq!(run(tanh_s16, &p, i16::MAX), 32767);
        assert_eq!(run(tanh_s16, &p, i16::MIN), -32767);
        let bad = SigmoidS16Params {
            input_multiplier: 40000,
            input_left_shift: 0,
        };
        assert!(logistic_s16(&bad, &[0, 0], &mut [0, 0]).is_err());
    }
}

/// RELU, RELU6 and LEAKY_RELU of TFLite's 16x8 mode: one multiplier for
/// `x - input_zero_point >= 0`, another below, the output zero point added
/// and the result clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PiecewiseS16Params {
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// Multiplier and shift (`-31..=30`) where `x - input_zero_point >= 0`.
    pub positive: (i32, i32),
    /// ... and where it is negative.
    pub negative: (i32, i32),
    /// The activation's range (the whole int16 range for LEAKY_RELU).
    pub clamp: super::int16::Clamp16,
}

/// int16 RELU, RELU6 and LEAKY_RELU, TFLite Micro's `ReluQuantized<int16_t>`,
/// `Relu6Quantized<int16_t>` and `QuantizeLeakyRelu<int16_t>`, exactly:
/// `clamp(output_zero_point + MultiplyByQuantizedMultiplier(v, m, s))` with
/// `v = x - input_zero_point` and `(m, s)` the positive or negative pair by
/// the sign of `v` (RELU: one pair twice; RELU6: the identity, `(2^30, 1)`,
/// between the input's zero and six).
///
/// * Layout: `input` and `output` flat int16 buffers of the same length.
/// * Scratch: none.
/// * Constraints: shifts in `-31..=30`, the clamp's `min <= max`
///   ([`Error::Parameter`]); lengths ([`Error::BufferLength`]).
pub fn piecewise_s16(p: &PiecewiseS16Params, input: &[i8], output: &mut [i8]) -> crate::Result {
    use crate::quant::{shift_in_range, Requantizer};
    p.clamp.check()?;
    if !shift_in_range(p.positive.1) || !shift_in_range(p.negative.1) {
        return Err(Error::Parameter("int16 activation shift outside -31..=30"));
    }
    check_len("int16 activation output", output, input.len())?;
    if input.len() % 2 != 0 {
        return Err(Error::Shape("an int16 tensor of an odd number of bytes"));
    }
    let pairs = input.chunks_exact(2).zip(output.chunks_exact_mut(2));
    let load = |x: &[i8]| i16::from_le_bytes([x[0] as u8, x[1] as u8]) as i32;
    let store = |y: &mut [i8], r: i16| {
        let [lo, hi] = r.to_le_bytes();
        y[0] = lo as i8;
        y[1] = hi as i8;
    };
    // RELU6 (the identity both sides, no zero points): the clamp alone.
    const IDENTITY: (i32, i32) = (1 << 30, 1);
    if p.positive == IDENTITY
        && p.negative == IDENTITY
        && p.input_zero_point == 0
        && p.output_zero_point == 0
    {
        for (x, y) in pairs {
            store(y, p.clamp.apply(load(x)));
        }
        return Ok(());
    }
    let (Some(pos), Some(neg)) = (
        Requantizer::new(p.positive.0, p.positive.1),
        Requantizer::new(p.negative.0, p.negative.1),
    ) else {
        return Err(Error::Parameter("int16 activation multiplier -2^31"));
    };
    for (x, y) in pairs {
        let v = load(x).wrapping_sub(p.input_zero_point);
        let r = if v >= 0 { pos.apply(v) } else { neg.apply(v) };
        store(y, p.clamp.apply(r.saturating_add(p.output_zero_point)));
    }
    Ok(())
}

//! The Armv7E-M DSP instructions the fast kernels use, one function each:
//! inline assembly on targets with the DSP extension (`attonet_dsp`), a
//! plain-Rust model of the instruction elsewhere (host unit tests).
//!
//! Halfword lanes: `lo` is bits 0..16, `hi` bits 16..32.

#![allow(dead_code)]

#[cfg(attonet_dsp)]
use core::arch::asm;

/// `SXTB16 d, x`: bytes 0 and 2 of `x`, sign-extended into the two halfwords.
#[inline(always)]
pub(crate) fn sxtb16(x: u32) -> u32 {
    #[cfg(attonet_dsp)]
    {
        let r: u32;
        // SAFETY: a register-only DSP instruction; no memory, stack or flags.
        unsafe {
            asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        (x as u8 as i8 as i16 as u16 as u32) | ((x >> 16) as u8 as i8 as i16 as u16 as u32) << 16
    }
}

/// `SXTB16 d, x, ROR #8`: bytes 1 and 3 of `x`, sign-extended into the two
/// halfwords.
#[inline(always)]
pub(crate) fn sxtb16_ror8(x: u32) -> u32 {
    #[cfg(attonet_dsp)]
    {
        let r: u32;
        // SAFETY: a register-only DSP instruction; no memory, stack or flags.
        unsafe {
            asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        sxtb16(x.rotate_right(8))
    }
}

/// `SXTAB16 d, a, x`: the halfwords of `a` plus bytes 0 and 2 of `x`,
/// sign-extended (each lane wraps in 16 bits).
#[inline(always)]
pub(crate) fn sxtab16(a: u32, x: u32) -> u32 {
    #[cfg(attonet_dsp)]
    {
        let r: u32;
        // SAFETY: a register-only DSP instruction; no memory, stack or flags.
        unsafe {
            asm!("sxtab16 {r}, {a}, {x}", r = lateout(reg) r, a = in(reg) a, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        let e = sxtb16(x);
        let lo = (a as u16).wrapping_add(e as u16) as u32;
        let hi = ((a >> 16) as u16).wrapping_add((e >> 16) as u16) as u32;
        lo | hi << 16
    }
}

/// `SXTAB16 d, a, x, ROR #8`: the halfwords of `a` plus bytes 1 and 3 of
/// `x`, sign-extended.
#[inline(always)]
pub(crate) fn sxtab16_ror8(a: u32, x: u32) -> u32 {
    #[cfg(attonet_dsp)]
    {
        let r: u32;
        // SAFETY: a register-only DSP instruction; no memory, stack or flags.
        unsafe {
            asm!("sxtab16 {r}, {a}, {x}, ror #8", r = lateout(reg) r, a = in(reg) a, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        sxtab16(a, x.rotate_right(8))
    }
}

#[cfg(not(attonet_dsp))]
#[inline(always)]
fn lo(x: u32) -> i32 {
    x as u16 as i16 as i32
}

#[cfg(not(attonet_dsp))]
#[inline(always)]
fn hi(x: u32) -> i32 {
    (x >> 16) as u16 as i16 as i32
}

/// `SMLAD d, a, b, acc`: `acc + a.lo * b.lo + a.hi * b.hi`, wrapping in 32
/// bits (the instruction sets the Q flag on overflow; nothing reads it).
#[inline(always)]
pub(crate) fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(attonet_dsp)]
    {
        let r: i32;
        // SAFETY: a register-only DSP instruction; it may set the sticky Q
        // flag, which no code here reads (`preserves_flags` covers NZCV only
        // in spirit; Q is not an input of any compiler-generated code).
        unsafe {
            asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 c = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        acc.wrapping_add(lo(a) * lo(b)).wrapping_add(hi(a) * hi(b))
    }
}

/// `SMLABB d, a, b, acc`: `acc + a.lo * b.lo`, wrapping.
#[inline(always)]
pub(crate) fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(attonet_dsp)]
    {
        let r: i32;
        // SAFETY: a register-only DSP instruction (may set the Q flag, read by nothing).
        unsafe {
            asm!("smlabb {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 c = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        acc.wrapping_add(lo(a) * lo(b))
    }
}

/// `SMLATT d, a, b, acc`: `acc + a.hi * b.hi`, wrapping.
#[inline(always)]
pub(crate) fn smlatt(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(attonet_dsp)]
    {
        let r: i32;
        // SAFETY: a register-only DSP instruction (may set the Q flag, read by nothing).
        unsafe {
            asm!("smlatt {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 c = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        acc.wrapping_add(hi(a) * hi(b))
    }
}

/// `SMMLAR d, a, b, c`: bits 32..64 of `(c << 32) + a * b + 2^31`, modulo
/// 2^64 (the rounded most significant word of the product, plus `c`).
#[inline(always)]
pub(crate) fn smmlar(a: i32, b: i32, c: i32) -> i32 {
    #[cfg(attonet_dsp)]
    {
        let r: i32;
        // SAFETY: a register-only DSP instruction; no memory, stack or flags.
        unsafe {
            asm!("smmlar {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 c = in(reg) c, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        let v = ((c as i64) << 32)
            .wrapping_add(a as i64 * b as i64)
            .wrapping_add(1 << 31);
        (v >> 32) as i32
    }
}

/// `SSAT d, #8, a`: `a` clamped to `-128..=127` (sets the Q flag when it
/// clamps; nothing reads it).
#[inline(always)]
pub(crate) fn ssat8(a: i32) -> i32 {
    #[cfg(attonet_dsp)]
    {
        let r: i32;
        // SAFETY: a register-only DSP instruction (may set the Q flag, read by nothing).
        unsafe {
            asm!("ssat {r}, #8, {a}", r = lateout(reg) r, a = in(reg) a,
                 options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        a.clamp(-128, 127)
    }
}

/// `ASR d, a, s` with the shift in a register: shifts of 32 or more give
/// the sign in every bit.
/// (One instruction on the DSP cores: the Rust expression below costs four,
/// a byte load and a compare-and-select of the clamp, in every fast
/// epilogue.)
#[inline(always)]
pub(crate) fn asr_reg(a: i32, s: u32) -> i32 {
    #[cfg(attonet_dsp)]
    {
        let r: i32;
        // SAFETY: a register-only instruction; `ASR` by a register shifts by
        // the register's low byte, and by 32 or more gives the sign in every
        // bit, as the model below.
        unsafe {
            asm!("asr {r}, {a}, {s}", r = lateout(reg) r, a = in(reg) a, s = in(reg) s,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(attonet_dsp))]
    {
        a >> (s & 0xFF).min(31)
    }
}

#[cfg(all(test, not(attonet_dsp)))]
mod tests {
    use super::*;

    #[test]
    fn models_match_the_architecture_manual() {
        let x = 0x80_7F_FF_01u32; // bytes (lsb first): 0x01, 0xFF, 0x7F, 0x80
        assert_eq!(sxtb16(x), 0x007F_0001);
        assert_eq!(sxtb16_ror8(x), 0xFF80_FFFF);
        assert_eq!(sxtab16(0x0001_FFFF, x), 0x0080_0000);
        assert_eq!(sxtab16_ror8(0x0080_0080, x), 0x0000_007F);
        let a = 0x8000_8000u32; // (-32768, -32768)
        assert_eq!(smlad(a, a, 0), i32::MIN); // 2^31 wraps
        assert_eq!(smlad(0x0003_0002, 0xFFFF_0005, 1), 1 + 10 - 3);
        assert_eq!(smlabb(0x0003_0002, 0xFFFF_0005, 1), 11);
        assert_eq!(smlatt(0x0003_0002, 0xFFFF_0005, 1), -2);
        assert_eq!(smmlar(1 << 30, 4, 0), 1);
        assert_eq!(smmlar(1 << 30, 2, 0), 1); // 2^31 rounds up
        assert_eq!(smmlar(-(1 << 30), 2, 0), 0); // -2^31 + 2^31
        assert_eq!(smmlar(i32::MIN, i32::MIN, -(1 << 30)), 0);
        assert_eq!(smmlar(0, 0, 7), 7);
        assert_eq!(ssat8(300), 127);
        assert_eq!(ssat8(-300), -128);
        assert_eq!(asr_reg(-8, 40), -1);
    }
}

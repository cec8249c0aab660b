//! Exact instruction counters for the QEMU machines.
//!
//! Under `-icount shift=N` QEMU advances its virtual clock by exactly `2^N` ns
//! per executed instruction, so any timer of the machine measures
//! instructions: `instructions = ticks * 1e9 / (f_timer * 2^N)`. Rounding is
//! exact as long as one instruction spans at least ~2 timer ticks (the
//! rounding error of a tick difference is below one tick). RISC-V's
//! `minstret` counts instructions directly under `-icount shift=0`.
//! (The Cortex-M DWT cycle counter reads 0 under QEMU.)

use crate::InstructionCounter;

/// Reads a 32-bit device register.
///
/// # Safety
/// `addr` must be a readable register of a device of this board's memory map.
unsafe fn read32(addr: usize) -> u32 {
    core::ptr::read_volatile(addr as *const u32)
}

/// Writes a 32-bit device register.
///
/// # Safety
/// `addr` must be a writable register of a device of this board's memory
/// map, and the write must not break an invariant of other code (the
/// examples own their timers outright).
unsafe fn write32(addr: usize, value: u32) {
    core::ptr::write_volatile(addr as *mut u32, value)
}

/// Converts a tick difference of a timer at `freq_hz` into instructions at
/// `2^shift` ns each, rounding to nearest.
fn ticks_to_instructions(ticks: u64, freq_hz: u64, shift: u32) -> u64 {
    let den = freq_hz << shift;
    (ticks * 1_000_000_000 + den / 2) / den
}

/// A CMSDK APB timer (MPS2/MPS3 boards): a 32-bit down counter at the
/// peripheral clock.
pub struct CmsdkTimer {
    base: usize,
    freq_hz: u64,
    shift: u32,
    describe: &'static str,
}

impl CmsdkTimer {
    /// Starts the timer at `base`, free running from `0xFFFF_FFFF`.
    ///
    /// # Safety
    /// `base` must be a CMSDK APB timer of this board that nothing else uses;
    /// `freq_hz` its clock and `shift` the `-icount shift` the runner passes.
    pub unsafe fn start(base: usize, freq_hz: u64, shift: u32, describe: &'static str) -> Self {
        // CTRL (0x00): stop; RELOAD (0x08) and VALUE (0x04): full range; CTRL: enable.
        write32(base, 0);
        write32(base + 0x08, u32::MAX);
        write32(base + 0x04, u32::MAX);
        write32(base, 1);
        CmsdkTimer {
            base,
            freq_hz,
            shift,
            describe,
        }
    }
}

impl InstructionCounter for CmsdkTimer {
    fn describe(&self) -> &'static str {
        self.describe
    }

    fn read(&mut self) -> u64 {
        // SAFETY: VALUE (0x04) of the timer `start` was given; reading it has no side effect.
        let value = unsafe { read32(self.base + 0x04) };
        // Counting down; turn it into an up-counter.
        u64::from(u32::MAX - value)
    }

    fn instructions(&self, start: u64, end: u64) -> u64 {
        // 32-bit counter: one wrap between readings is handled.
        let ticks = end.wrapping_sub(start) & 0xFFFF_FFFF;
        ticks_to_instructions(ticks, self.freq_hz, self.shift)
    }
}

/// The SSE-300 system counter (MPS3 AN547): a 64-bit up counter at the
/// main clock, read through the low word of CNTCV in its control frame.
pub struct Sse300Counter {
    base: usize,
    freq_hz: u64,
    shift: u32,
    describe: &'static str,
}

impl Sse300Counter {
    /// Enables the counter whose control frame is at `base`.
    ///
    /// # Safety
    /// `base` must be the SSE-300 system counter's control frame (secure
    /// state), used by nothing else; `freq_hz` its clock and `shift` the
    /// `-icount shift` the runner passes.
    pub unsafe fn start(base: usize, freq_hz: u64, shift: u32, describe: &'static str) -> Self {
        write32(base, 1); // CNTCR: EN, no scaling
        Sse300Counter {
            base,
            freq_hz,
            shift,
            describe,
        }
    }
}

impl InstructionCounter for Sse300Counter {
    fn describe(&self) -> &'static str {
        self.describe
    }

    fn read(&mut self) -> u64 {
        // SAFETY: CNTCV_LO (0x08) of the counter `start` enabled; reading it has no side effect.
        u64::from(unsafe { read32(self.base + 0x08) })
    }

    fn instructions(&self, start: u64, end: u64) -> u64 {
        // The low 32 bits: one wrap between readings is handled.
        let ticks = end.wrapping_sub(start) & 0xFFFF_FFFF;
        ticks_to_instructions(ticks, self.freq_hz, self.shift)
    }
}

/// An nRF51 TIMER (micro:bit) in 32-bit timer mode at 16 MHz, read through
/// a capture task.
pub struct Nrf51Timer {
    base: usize,
    shift: u32,
    describe: &'static str,
}

impl Nrf51Timer {
    /// Starts the timer at `base` from 0.
    ///
    /// # Safety
    /// `base` must be an nRF51 TIMER instance that nothing else uses, and
    /// `shift` the `-icount shift` the runner passes.
    pub unsafe fn start(base: usize, shift: u32, describe: &'static str) -> Self {
        write32(base + 0x004, 1); // TASKS_STOP
        write32(base + 0x504, 0); // MODE: timer
        write32(base + 0x508, 3); // BITMODE: 32 bit
        write32(base + 0x510, 0); // PRESCALER: 16 MHz
        write32(base + 0x00C, 1); // TASKS_CLEAR
        write32(base, 1); // TASKS_START (0x000)
        Nrf51Timer {
            base,
            shift,
            describe,
        }
    }
}

impl InstructionCounter for Nrf51Timer {
    fn describe(&self) -> &'static str {
        self.describe
    }

    fn read(&mut self) -> u64 {
        // SAFETY: TASKS_CAPTURE[0] (0x040) copies the counter into CC[0]
        // (0x540) of the timer `start` was given, which only this counter uses.
        unsafe {
            write32(self.base + 0x040, 1);
            u64::from(read32(self.base + 0x540))
        }
    }

    fn instructions(&self, start: u64, end: u64) -> u64 {
        let ticks = end.wrapping_sub(start) & 0xFFFF_FFFF;
        ticks_to_instructions(ticks, 16_000_000, self.shift)
    }
}

/// RISC-V `minstret`, the machine-mode retired-instruction counter (64 bits).
#[cfg(target_arch = "riscv32")]
pub struct Minstret {
    describe: &'static str,
}

#[cfg(target_arch = "riscv32")]
impl Minstret {
    /// The counter (always running in machine mode).
    pub fn new(describe: &'static str) -> Self {
        Minstret { describe }
    }
}

#[cfg(target_arch = "riscv32")]
impl InstructionCounter for Minstret {
    fn describe(&self) -> &'static str {
        self.describe
    }

    fn read(&mut self) -> u64 {
        riscv::register::minstret::read64()
    }

    fn instructions(&self, start: u64, end: u64) -> u64 {
        end.wrapping_sub(start)
    }
}

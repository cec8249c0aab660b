//! Peak stack use, measured by painting: fill the unused stack below the
//! current frame with a pattern, run, and find the lowest word overwritten.

use crate::memory;

/// The pattern; a word that is an unlikely value for saved registers.
const PAINT: u32 = 0xC0DE_5AFE;
/// Most bytes painted below the current frame (plenty for the runtime,
/// whose static stack bound is at most 11 KB, `benches/qemu/stack.csv`;
/// bounded so that boards with megabytes of RAM do not paint all of it for
/// every inference).
const WINDOW: usize = 32 * 1024;
/// Left unpainted just below the painting function's own frame.
const MARGIN: usize = 128;

/// A painted stretch of the stack, `[bottom, top)`.
pub struct Paint {
    bottom: usize,
    top: usize,
}

impl Paint {
    /// Paints the free stack below the caller (at most [`WINDOW`] bytes,
    /// never below the end of the statics).
    #[inline(never)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Paint {
        let marker = 0u32;
        // An address in this function's frame: the current stack depth.
        let here = core::hint::black_box(&marker) as *const u32 as usize;
        let top = here.saturating_sub(MARGIN) & !3;
        let floor = (memory::static_end() + 3) & !3;
        let bottom = top.saturating_sub(WINDOW).max(floor);
        let mut p = bottom;
        while p < top {
            // SAFETY: `[bottom, top)` lies between the end of the statics
            // (`__sheap`; the examples have no heap) and below this function's
            // frame: memory the linker reserves for the stack that no live
            // frame or Rust object occupies now. Nothing reads it before it
            // is written again (deeper calls overwrite it), and interrupts,
            // which could push frames there, are never enabled.
            unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
        Paint { bottom, top }
    }

    /// Bytes of stack in use at the deepest point since [`Paint::new`],
    /// counted from the initial stack pointer; `None` when the lowest painted
    /// word was overwritten too (the stack may have grown past the window).
    pub fn peak(&self) -> Option<usize> {
        let mut p = self.bottom;
        // SAFETY: the same words `new` painted, all inside the stack region;
        // reading them cannot disturb any live frame.
        while p < self.top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
            p += 4;
        }
        if p == self.bottom && self.bottom < self.top {
            return None;
        }
        Some(memory::stack_top() - p)
    }
}

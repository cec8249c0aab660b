//! The smallest firmware that runs one model: fills the input from a
//! volatile byte, runs the plan, stores the first score volatilely, loops.
//! `cargo xtask code-size` builds it with and without a model; the
//! difference in `.text` is the runtime's code for that model (executor,
//! checks, the kernels the model links), the difference in `.rodata` its
//! weights and plan. No printing, no counters: nothing else links.
#![no_std]
#![no_main]
#![allow(dead_code)]

use core::panic::PanicInfo;
use cortex_m_rt::entry;

#[cfg(any(feature = "resnet8", feature = "kws"))]
mod model {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

static SEED: i8 = 3;
static mut SINK: i8 = 0;

#[cfg(any(feature = "resnet8", feature = "kws"))]
fn run() {
    #[repr(C, align(8))]
    struct Arena([i8; model::ARENA_BYTES]);
    static mut ARENA: Arena = Arena([0; model::ARENA_BYTES]);
    // SAFETY: `main` runs once and nothing else touches ARENA.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    if let Ok(input) = model::MODEL.input_mut(&mut arena.0) {
        for x in input.iter_mut() {
            // SAFETY: a plain static read through a valid pointer.
            *x = unsafe { core::ptr::read_volatile(&SEED) };
        }
    }
    let first = match model::MODEL.run(&mut arena.0) {
        Ok(()) => model::MODEL
            .output(&arena.0)
            .ok()
            .and_then(|o| o.first().copied()),
        Err(_) => None,
    };
    // SAFETY: single-threaded; a volatile store so the result is kept.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!(SINK), first.unwrap_or(-1)) };
}

#[cfg(not(any(feature = "resnet8", feature = "kws")))]
fn run() {
    // SAFETY: as above.
    unsafe {
        let x = core::ptr::read_volatile(&SEED);
        core::ptr::write_volatile(core::ptr::addr_of_mut!(SINK), x);
    }
}

#[entry]
fn main() -> ! {
    run();
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

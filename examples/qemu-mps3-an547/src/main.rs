//! AttoNet on QEMU `mps3-an547` (Cortex-M55): classifies the bundled test
//! inputs with each model, checks every int8 output against the host
//! runner's, counts instructions per inference, reports flash and RAM.
#![no_std]
#![no_main]

use attonet_fw_common::counters::Sse300Counter;
use cortex_m_rt::entry;
// Panics print over semihosting and exit with status 101.
use semihosting as _;

mod models {
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}

/// The arena, aligned for word access; shared by the models.
#[repr(C, align(8))]
struct Arena([i8; models::ARENA_BYTES]);

#[entry]
fn main() -> ! {
    // cortex-m-rt turns these into `&'static mut` references, handed out once.
    static mut ARENA: Arena = Arena([0; models::ARENA_BYTES]);
    static mut SCORES: [i8; models::OUTPUT_LEN] = [0; models::OUTPUT_LEN];

    // SAFETY: 0x5810_0000 is the control frame of the SSE-300 system counter
    // (Secure, the state the core runs in); only this counter uses it. It
    // runs at the 32 MHz main clock; the runner passes `-icount shift=7`.
    let mut counter = unsafe {
        Sse300Counter::start(
            0x5810_0000,
            32_000_000,
            7,
            "SSE-300 system counter at 32 MHz under -icount shift=7 (instructions = ticks / 4.096)",
        )
    };
    let board = attonet_fw_common::Board {
        machine: "mps3-an547",
        cpu: "Cortex-M55",
        target: "thumbv8m.main-none-eabihf",
    };
    attonet_fw_common::run(&board, &mut counter, &models::CASES, &mut ARENA.0, SCORES)
}

//! AttoNet on QEMU `mps2-an500` (Cortex-M7): classifies the bundled test
//! inputs with each model, checks every int8 output against the host
//! runner's, counts instructions per inference, reports flash and RAM.
#![no_std]
#![no_main]

use attonet_fw_common::counters::CmsdkTimer;
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

    // SAFETY: 0x4000_0000 is the CMSDK TIMER0 of the MPS2 memory map; only
    // this counter uses it. 25 MHz; the runner passes `-icount shift=7`.
    let mut counter = unsafe {
        CmsdkTimer::start(
            0x4000_0000,
            25_000_000,
            7,
            "CMSDK TIMER0 at 25 MHz under -icount shift=7 (instructions = ticks / 3.2)",
        )
    };
    let board = attonet_fw_common::Board {
        machine: "mps2-an500",
        cpu: "Cortex-M7",
        target: "thumbv7em-none-eabihf",
    };
    attonet_fw_common::run(&board, &mut counter, &models::CASES, &mut ARENA.0, SCORES)
}

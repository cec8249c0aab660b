//! AttoNet on QEMU `microbit` (nRF51822, Cortex-M0, 16 KB RAM): classifies
//! the bundled test inputs with each model that fits, checks every int8
//! output against the host runner's, counts instructions per inference,
//! reports flash and RAM.
#![no_std]
#![no_main]

use attonet_fw_common::counters::Nrf51Timer;
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

    // SAFETY: 0x4000_8000 is TIMER0 of the nRF51 memory map; only this
    // counter uses it. The runner passes `-icount shift=8`.
    let mut counter = unsafe {
        Nrf51Timer::start(
            0x4000_8000,
            8,
            "nRF51 TIMER0 at 16 MHz under -icount shift=8 (instructions = ticks / 4.096)",
        )
    };
    let board = attonet_fw_common::Board {
        machine: "microbit",
        cpu: "Cortex-M0",
        target: "thumbv6m-none-eabi",
    };
    attonet_fw_common::run(&board, &mut counter, &models::CASES, &mut ARENA.0, SCORES)
}

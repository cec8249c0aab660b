//! AttoNet on QEMU `virt` (32-bit RISC-V, rv32imac code):
//! classifies the bundled test inputs with each model, checks
//! every int8 output against the host runner's, counts instructions per
//! inference, reports flash and RAM.
#![no_std]
#![no_main]

use attonet_fw_common::counters::Minstret;
use riscv_rt::entry;
// Panics print over semihosting and exit with status 101.
use semihosting as _;

mod models {
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}

/// The arena, aligned for word access; shared by the models.
#[repr(C, align(8))]
struct Arena([i8; models::ARENA_BYTES]);

static mut ARENA: Arena = Arena([0; models::ARENA_BYTES]);
static mut SCORES: [i8; models::OUTPUT_LEN] = [0; models::OUTPUT_LEN];

#[entry]
fn main() -> ! {
    let (arena, scores) = (&raw mut ARENA, &raw mut SCORES);
    // SAFETY: `main` runs once, on the only hart, with interrupts disabled,
    // and is the only code that names ARENA and SCORES: these are the only
    // references to them for the rest of the program.
    let (arena, scores) = unsafe { (&mut (*arena).0, &mut *scores) };
    let mut counter = Minstret::new("minstret under -icount shift=0");
    let board = attonet_fw_common::Board {
        machine: "virt",
        cpu: "rv32 (QEMU default core), rv32imac code",
        target: "riscv32imac-unknown-none-elf",
    };
    attonet_fw_common::run(&board, &mut counter, &models::CASES, arena, scores)
}

//! AttoNet on the nRF52840-DK: classifies the bundled test inputs with each
//! model, checks every int8 output against the host runner's, logs over RTT
//! (defmt) and UARTE0 (the DK's USB virtual COM port, 115200 8N1), times each
//! inference with the DWT cycle counter, and blinks LED1.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use nrf52840_hal::{self as hal, gpio::Level, pac, uarte};
use panic_probe as _;

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
    // UARTE transmits by DMA, from RAM.
    static mut TX_BUF: [u8; 64] = [0; 64];
    static mut RX_BUF: [u8; 1] = [0; 1];

    let mut core = cortex_m::Peripherals::take().expect("core peripherals, taken once");
    let p = pac::Peripherals::take().expect("device peripherals, taken once");
    let port0 = hal::gpio::p0::Parts::new(p.P0);

    // LED1 is P0.13, lit when low.
    let mut led = attonet_board_app::ActiveLow(port0.p0_13.into_push_pull_output(Level::High));
    // The DK's virtual COM port: TXD P0.06, RXD P0.08.
    let pins = uarte::Pins {
        txd: port0.p0_06.into_push_pull_output(Level::High).degrade(),
        rxd: port0.p0_08.into_floating_input().degrade(),
        cts: None,
        rts: None,
    };
    let uarte = hal::Uarte::new(
        p.UARTE0,
        pins,
        uarte::Parity::EXCLUDED,
        uarte::Baudrate::BAUD115200,
    );
    let (mut serial, _rx) = uarte
        .split(TX_BUF, RX_BUF)
        .expect("UARTE buffers are in RAM and small enough");
    let mut delay = hal::Delay::new(core.SYST);

    // Cycles at 64 MHz.
    core.DCB.enable_trace();
    core.DWT.enable_cycle_counter();
    let now = cortex_m::peripheral::DWT::cycle_count;

    let board = attonet_board_app::Board {
        name: "nRF52840-DK (Cortex-M4F, 64 MHz)",
        unit: "cycles",
    };
    attonet_board_app::run(
        &board,
        &mut led,
        &mut delay,
        &mut serial,
        now,
        &models::CASES,
        &mut ARENA.0,
        SCORES,
    )
}

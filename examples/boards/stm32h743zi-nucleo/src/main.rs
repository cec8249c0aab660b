//! AttoNet on the NUCLEO-H743ZI: classifies the bundled test inputs with each
//! model, checks every int8 output against the host runner's, logs over RTT
//! (defmt) and USART3 (the ST-LINK's virtual COM port, 115200 8N1), times
//! each inference with the DWT cycle counter, and blinks LD1 (green).
#![no_std]
#![no_main]

mod eh02;

use cortex_m_rt::entry;
use defmt_rtt as _;
use panic_probe as _;
use stm32h7xx_hal::{pac, prelude::*};

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

    let mut core = cortex_m::Peripherals::take().expect("core peripherals, taken once");
    let dp = pac::Peripherals::take().expect("device peripherals, taken once");

    // 400 MHz from the internal oscillator (voltage scale 1).
    let pwrcfg = dp.PWR.constrain().freeze();
    let ccdr = dp
        .RCC
        .constrain()
        .sys_ck(400.MHz())
        .freeze(pwrcfg, &dp.SYSCFG);

    // LD1 (green) is PB0.
    let gpiob = dp.GPIOB.split(ccdr.peripheral.GPIOB);
    let mut led = eh02::Pin(gpiob.pb0.into_push_pull_output());
    // USART3 on PD8 (TX) / PD9 (RX): the ST-LINK's virtual COM port.
    let gpiod = dp.GPIOD.split(ccdr.peripheral.GPIOD);
    let usart3 = dp
        .USART3
        .serial(
            (gpiod.pd8.into_alternate(), gpiod.pd9.into_alternate()),
            115_200.bps(),
            ccdr.peripheral.USART3,
            &ccdr.clocks,
        )
        .expect("USART3 at 115200 bps");
    let (tx, _rx) = usart3.split();
    let mut serial = eh02::Serial(tx);
    let mut delay = cortex_m::delay::Delay::new(core.SYST, ccdr.clocks.sys_ck().raw());

    // The Cortex-M7's caches (off after reset); nothing here uses DMA.
    core.SCB.enable_icache();
    core.SCB.enable_dcache(&mut core.CPUID);

    // Cycles at 400 MHz.
    core.DCB.enable_trace();
    core.DWT.enable_cycle_counter();
    let now = cortex_m::peripheral::DWT::cycle_count;

    let board = attonet_board_app::Board {
        name: "NUCLEO-H743ZI (Cortex-M7, 400 MHz)",
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

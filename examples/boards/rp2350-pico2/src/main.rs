//! AttoNet on the Raspberry Pi Pico 2 (RP2350), on its Cortex-M33 cores
//! (`thumbv8m.main-none-eabihf`, the default) or its Hazard3 RISC-V cores
//! (`--target riscv32imac-unknown-none-elf`): classifies the bundled test
//! inputs with each model, checks every int8 output against the host
//! runner's, logs over RTT (defmt) and UART0 (GP0 TX / GP1 RX, 115200 8N1),
//! times each inference in core cycles (DWT on Arm, `mcycle` on RISC-V), and
//! blinks the LED on GP25.
#![no_std]
#![no_main]

use defmt_rtt as _;
#[cfg(target_arch = "arm")]
use panic_probe as _;
use rp235x_hal::{
    self as hal,
    clocks::init_clocks_and_plls,
    fugit::RateExtU32,
    gpio,
    uart::{DataBits, StopBits, UartConfig, UartPeripheral},
    Clock,
};

mod models {
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}

/// The IMAGE_DEF block the boot ROM looks for in the first 4 KB of flash
/// (a secure executable for the core type of the build target).
#[cfg_attr(target_arch = "arm", link_section = ".start_block")]
#[cfg_attr(target_arch = "riscv32", link_section = ".init.rust")]
#[used]
pub static IMAGE_DEF: hal::block::ImageDef = hal::block::ImageDef::secure_exe();

/// The Pico 2's crystal.
const XTAL_FREQ_HZ: u32 = 12_000_000;

/// The arena, aligned for word access; shared by the models.
#[repr(C, align(8))]
struct Arena([i8; models::ARENA_BYTES]);

static mut ARENA: Arena = Arena([0; models::ARENA_BYTES]);
static mut SCORES: [i8; models::OUTPUT_LEN] = [0; models::OUTPUT_LEN];

#[hal::entry]
fn main() -> ! {
    let mut pac = hal::pac::Peripherals::take().expect("peripherals, taken once");
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    // 150 MHz system clock from the 12 MHz crystal.
    let clocks = init_clocks_and_plls(
        XTAL_FREQ_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    )
    .expect("clocks and PLLs");
    let mut delay = hal::Timer::new_timer0(pac.TIMER0, &mut pac.RESETS, &clocks);
    let sio = hal::Sio::new(pac.SIO);
    let pins = gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let mut led = pins.gpio25.into_push_pull_output();
    let uart_pins = (
        pins.gpio0.into_function::<gpio::FunctionUart>(),
        pins.gpio1.into_function::<gpio::FunctionUart>(),
    );
    let mut serial = UartPeripheral::new(pac.UART0, uart_pins, &mut pac.RESETS)
        .enable(
            UartConfig::new(115_200.Hz(), DataBits::Eight, None, StopBits::One),
            clocks.peripheral_clock.freq(),
        )
        .expect("UART0 at 115200 bps");

    let (arena, scores) = (&raw mut ARENA, &raw mut SCORES);
    // SAFETY: `main` runs once, on core 0 (core 1 stays parked), and is the
    // only code that names ARENA and SCORES: these are the only references.
    let (arena, scores) = unsafe { (&mut (*arena).0, &mut *scores) };

    let board = attonet_board_app::Board {
        name: BOARD,
        unit: "cycles",
    };
    attonet_board_app::run(
        &board,
        &mut led,
        &mut delay,
        &mut serial,
        cycle_counter(),
        &models::CASES,
        arena,
        scores,
    )
}

#[cfg(target_arch = "arm")]
const BOARD: &str = "Raspberry Pi Pico 2 (RP2350, Cortex-M33, 150 MHz)";
#[cfg(target_arch = "riscv32")]
const BOARD: &str = "Raspberry Pi Pico 2 (RP2350, Hazard3 RISC-V, 150 MHz)";

/// Core cycles: the DWT cycle counter.
#[cfg(target_arch = "arm")]
fn cycle_counter() -> impl FnMut() -> u32 {
    let mut core = cortex_m::Peripherals::take().expect("core peripherals, taken once");
    core.DCB.enable_trace();
    core.DWT.enable_cycle_counter();
    cortex_m::peripheral::DWT::cycle_count
}

/// Core cycles: the `mcycle` CSR (low 32 bits).
#[cfg(target_arch = "riscv32")]
fn cycle_counter() -> impl FnMut() -> u32 {
    || riscv::register::mcycle::read() as u32
}

/// On RISC-V (panic-probe is Arm-only): log the panic over RTT and stop.
#[cfg(target_arch = "riscv32")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("{}", defmt::Display2Format(info));
    loop {
        core::hint::spin_loop();
    }
}

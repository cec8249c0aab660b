//! AttoNet on an ESP32-C3 board: classifies the bundled test inputs with each
//! model, checks every int8 output against the host runner's, logs over RTT
//! (defmt, through the chip's USB-JTAG) and UART0 (GPIO21 TX / GPIO20 RX,
//! 115200 8N1; the USB-UART bridge on DevKit boards), times each inference
//! with the system timer (microseconds), and blinks the LED on GPIO8.
#![no_std]
#![no_main]

use defmt_rtt as _;
use esp_backtrace as _;
use esp_hal::delay::Delay;
use esp_hal::gpio::{Level, Output, OutputConfig};
use esp_hal::time::Instant;
use esp_hal::uart::{Config, Uart};

// The application descriptor the ESP-IDF second-stage bootloader checks.
esp_bootloader_esp_idf::esp_app_desc!();

mod models {
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}

/// The arena, aligned for word access; shared by the models.
#[repr(C, align(8))]
struct Arena([i8; models::ARENA_BYTES]);

static mut ARENA: Arena = Arena([0; models::ARENA_BYTES]);
static mut SCORES: [i8; models::OUTPUT_LEN] = [0; models::OUTPUT_LEN];

#[esp_hal::main]
fn main() -> ! {
    let p = esp_hal::init(esp_hal::Config::default());

    // GPIO8: the LED of the ESP32-C3-DevKitM-1 (an addressable RGB LED there,
    // which a plain level does not light; a plain LED on many other boards).
    let mut led = Output::new(p.GPIO8, Level::Low, OutputConfig::default());
    let mut serial = Uart::new(p.UART0, Config::default().with_baudrate(115_200))
        .expect("UART0 at 115200 bps")
        .with_tx(p.GPIO21)
        .with_rx(p.GPIO20);
    let mut delay = Delay::new();
    let now = || Instant::now().duration_since_epoch().as_micros() as u32;

    let (arena, scores) = (&raw mut ARENA, &raw mut SCORES);
    // SAFETY: `main` runs once, on the only core, and is the only code that
    // names ARENA and SCORES: these are the only references to them.
    let (arena, scores) = unsafe { (&mut (*arena).0, &mut *scores) };

    let board = attonet_board_app::Board {
        name: "ESP32-C3 (rv32imc, 160 MHz)",
        unit: "us",
    };
    attonet_board_app::run(
        &board,
        &mut led,
        &mut delay,
        &mut serial,
        now,
        &models::CASES,
        arena,
        scores,
    )
}

//! The application of every real-board example, written against the
//! `embedded-hal` 1.0 traits so that each board crate only wires its HAL's
//! types in: an [`OutputPin`] LED, a [`DelayNs`] timer, an
//! [`embedded_io::Write`] serial port, and a function reading the core's
//! cycle (or microsecond) counter.
//!
//! It classifies the bundled test inputs with every model the build selected,
//! checks each int8 output against the host runner's (embedded by the build
//! script), logs each result with `defmt` (over RTT, shown by `probe-rs run`),
//! writes the same lines to the serial port, lights the LED during each
//! inference, then blinks forever: slowly when every output matched, fast when
//! one did not.
#![no_std]
#![deny(missing_docs)]

use attonet_fw_common::{argmax, Case, Grouped};
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_io::Write;

/// What the board is and how it counts time.
pub struct Board {
    /// The board, e.g. `nRF52840-DK`.
    pub name: &'static str,
    /// The unit of [`run`]'s `now` (`cycles`, `us`).
    pub unit: &'static str,
}

/// Classifies the bundled inputs of every case, reports, then blinks forever.
///
/// `arena` must hold the largest model's arena, `scores` its largest output.
/// `now` reads a free-running 32-bit counter in `board.unit` (an inference
/// must take less than one wrap).
#[allow(clippy::too_many_arguments)]
pub fn run<L, D, S, N>(
    board: &Board,
    led: &mut L,
    delay: &mut D,
    serial: &mut S,
    mut now: N,
    cases: &[Case],
    arena: &mut [i8],
    scores: &mut [i8],
) -> !
where
    L: OutputPin,
    D: DelayNs,
    S: Write,
    N: FnMut() -> u32,
{
    defmt::info!("AttoNet on {=str}", board.name);
    let _ = write!(serial, "AttoNet on {}\r\n", board.name);
    let mut all_match = true;
    for case in cases {
        all_match &= classify(board, led, serial, &mut now, case, arena, scores);
    }
    if all_match {
        defmt::info!("PASS: every output is bit-identical to the host runner's");
        let _ = write!(
            serial,
            "PASS: every output is bit-identical to the host runner's\r\n"
        );
    } else {
        defmt::error!("FAIL: outputs differ from the host runner's");
        let _ = write!(serial, "FAIL: outputs differ from the host runner's\r\n");
    }
    let half_period_ms = if all_match { 500 } else { 100 };
    loop {
        let _ = led.set_high();
        delay.delay_ms(half_period_ms);
        let _ = led.set_low();
        delay.delay_ms(half_period_ms);
    }
}

/// One model over its bundled inputs; true when every output matched.
fn classify<L, S, N>(
    board: &Board,
    led: &mut L,
    serial: &mut S,
    now: &mut N,
    case: &Case,
    arena: &mut [i8],
    scores: &mut [i8],
) -> bool
where
    L: OutputPin,
    S: Write,
    N: FnMut() -> u32,
{
    let model = case.model;
    defmt::info!(
        "{=str}: {=str}, {=u64} MACs; {=str}",
        case.name,
        case.title,
        case.macs,
        case.inputs_from
    );
    if let Err(e) = model.validate() {
        defmt::error!("{=str}: invalid plan: {}", case.name, e);
        return false;
    }
    if let Err(e) = model.verify(case.checksum) {
        defmt::error!("{=str}: the model in flash is corrupt: {}", case.name, e);
        return false;
    }
    let in_len = model.input.slot.shape.len();
    let out_len = model.output.slot.shape.len();
    let Some(scores) = scores.get_mut(..out_len) else {
        defmt::error!("{=str}: output larger than the scores buffer", case.name);
        return false;
    };
    let (mut correct, mut matching) = (0usize, 0usize);
    let inputs = case.inputs.chunks_exact(in_len);
    let expected = case.expected.chunks_exact(out_len);
    for (i, ((input, want), &label)) in inputs.zip(expected).zip(case.labels).enumerate() {
        let _ = led.set_high();
        let start = now();
        let result = model.infer(arena, input, scores);
        let elapsed = now().wrapping_sub(start);
        let _ = led.set_low();
        if let Err(e) = result {
            defmt::error!("{=str} input {=usize}: runtime error {}", case.name, i, e);
            return false;
        }
        let best = argmax(scores);
        let ok = best == label as usize;
        let same = scores == want;
        correct += ok as usize;
        matching += same as usize;
        let (label_name, best_name) = (class(case, label as usize), class(case, best));
        defmt::info!(
            "{=str} input {=usize}: label {=str}, predicted {=str}, {=u32} {=str}, output {=str} host",
            case.name,
            i,
            label_name,
            best_name,
            elapsed,
            board.unit,
            if same { "==" } else { "!=" }
        );
        let _ = write!(
            serial,
            "{} input {}: label {}, predicted {}, {} {}, output {} host\r\n",
            case.name,
            i,
            label_name,
            best_name,
            Grouped(u64::from(elapsed)),
            board.unit,
            if same { "==" } else { "!=" }
        );
        let _ = serial.flush();
    }
    let count = case.count();
    defmt::info!(
        "{=str}: accuracy {=usize}/{=usize}; outputs bit-identical to the host runner: {=usize}/{=usize}",
        case.name,
        correct,
        count,
        matching,
        count
    );
    let _ = write!(
        serial,
        "{}: accuracy {}/{}; outputs bit-identical to the host runner: {}/{}\r\n",
        case.name, correct, count, matching, count
    );
    let _ = serial.flush();
    matching == count
}

fn class(case: &Case, i: usize) -> &'static str {
    case.classes.get(i).copied().unwrap_or("?")
}

/// An LED wired active-low (lit when the pin is low), seen as active-high.
pub struct ActiveLow<P>(pub P);

impl<P: embedded_hal::digital::ErrorType> embedded_hal::digital::ErrorType for ActiveLow<P> {
    type Error = P::Error;
}

impl<P: OutputPin> OutputPin for ActiveLow<P> {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.0.set_high()
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.0.set_low()
    }
}

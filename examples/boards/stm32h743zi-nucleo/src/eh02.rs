//! Adapters from the `embedded-hal` 0.2 traits that `stm32h7xx-hal`
//! implements to the `embedded-hal` 1.0 / `embedded-io` traits the
//! application is written against.

use core::convert::Infallible;

use embedded_hal_02::digital::v2::OutputPin as OutputPin02;
use embedded_hal_02::serial::Write as SerialWrite02;

/// An `embedded-hal` 0.2 output pin as an `embedded-hal` 1.0 one.
pub struct Pin<P>(pub P);

impl<P> embedded_hal::digital::ErrorType for Pin<P> {
    type Error = Infallible;
}

impl<P: OutputPin02<Error = Infallible>> embedded_hal::digital::OutputPin for Pin<P> {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.set_low()
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0.set_high()
    }
}

/// An `embedded-hal` 0.2 (non-blocking) serial transmitter as a blocking
/// `embedded_io::Write`.
pub struct Serial<W>(pub W);

/// A transmit error.
#[derive(Debug)]
pub struct SerialError;

impl embedded_io::Error for SerialError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl<W> embedded_io::ErrorType for Serial<W> {
    type Error = SerialError;
}

impl<W: SerialWrite02<u8>> embedded_io::Write for Serial<W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, SerialError> {
        for &byte in buf {
            nb::block!(self.0.write(byte)).map_err(|_| SerialError)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), SerialError> {
        nb::block!(self.0.flush()).map_err(|_| SerialError)
    }
}

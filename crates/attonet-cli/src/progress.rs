//! Progress of a long batch on stderr (never stdout: its formats are the
//! output): samples done of the total, the rate and the time left. Nothing
//! for a batch done within the first second; then, on a terminal, one line
//! rewritten in place (`\r`) about once a second, elsewhere (a log, a pipe) a
//! plain line every ten seconds. A finished batch that showed progress ends
//! with a line giving its total time.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Nothing is shown for batches done within this time.
const FIRST: Duration = Duration::from_secs(1);
/// Between two updates of a terminal's line.
const TERMINAL_EVERY: Duration = Duration::from_secs(1);
/// Between two lines in a log.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A batch's progress reporter; [`Progress::tick`] after each sample.
pub struct Progress<W: Write> {
    out: W,
    terminal: bool,
    total: usize,
    start: Instant,
    /// When the next update is due (since `start`).
    next: Duration,
    /// Whether a line was shown (so `finish` closes it).
    shown: bool,
}

impl Progress<std::io::Stderr> {
    /// Progress of `total` samples on stderr.
    pub fn stderr(total: usize) -> Self {
        let err = std::io::stderr();
        let terminal = err.is_terminal();
        Progress::new(err, terminal, total)
    }
}

impl<W: Write> Progress<W> {
    pub fn new(out: W, terminal: bool, total: usize) -> Self {
        Progress {
            out,
            terminal,
            total,
            start: Instant::now(),
            next: FIRST,
            shown: false,
        }
    }

    /// `done` samples are done (cheap: one clock read).
    pub fn tick(&mut self, done: usize) {
        self.tick_at(done, self.start.elapsed());
    }

    fn tick_at(&mut self, done: usize, elapsed: Duration) {
        if elapsed < self.next || done >= self.total {
            return;
        }
        let line = line(done, self.total, elapsed);
        // A closed or full stderr must not stop the batch: errors are dropped.
        let _ = if self.terminal {
            // Padded so a shorter line covers the previous one.
            write!(self.out, "\r{line:<72}")
        } else {
            writeln!(self.out, "{line}")
        };
        let _ = self.out.flush();
        self.shown = true;
        self.next = elapsed
            + if self.terminal {
                TERMINAL_EVERY
            } else {
                LOG_EVERY
            };
    }

    /// The batch is done: if progress was shown, a last line with the total
    /// time (ending the terminal's line, so stdout's report starts on its own).
    pub fn finish(&mut self) {
        self.finish_at(self.start.elapsed());
    }

    fn finish_at(&mut self, elapsed: Duration) {
        if !self.shown {
            return;
        }
        let n = self.total;
        let line = format!(
            "{n}/{n} samples in {}, {}",
            duration(elapsed),
            rate(n, elapsed)
        );
        let _ = if self.terminal {
            writeln!(self.out, "\r{line:<72}")
        } else {
            writeln!(self.out, "{line}")
        };
        let _ = self.out.flush();
        self.shown = false;
    }
}

/// A batch stopped by an error: the terminal's line is ended, so the error
/// message starts on a line of its own.
impl<W: Write> Drop for Progress<W> {
    fn drop(&mut self) {
        if self.shown && self.terminal {
            let _ = writeln!(self.out);
            let _ = self.out.flush();
        }
    }
}

/// `done/total samples (P %), R samples/s, T left`.
fn line(done: usize, total: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let left = if done == 0 {
        "time left unknown".to_string()
    } else {
        let per_sample = secs / done as f64;
        let left = Duration::from_secs_f64(per_sample * total.saturating_sub(done) as f64);
        format!("about {} left", duration(left))
    };
    format!(
        "{done}/{total} samples ({:.0} %), {}, {left}",
        100.0 * done as f64 / total.max(1) as f64,
        rate(done, elapsed)
    )
}

fn rate(done: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "- samples/s".to_string();
    }
    let r = done as f64 / secs;
    if r >= 10.0 {
        format!("{r:.0} samples/s")
    } else {
        format!("{r:.1} samples/s")
    }
}

/// `42 s`, `3 min 05 s`, `1 h 02 min`.
fn duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn ms(ms: usize) -> Duration {
        Duration::from_millis(ms as u64)
    }

    #[test]
    fn a_short_batch_shows_nothing() {
        let mut p = Progress::new(Vec::new(), true, 100);
        for i in 1..=100 {
            p.tick_at(i, ms(9 * i));
        }
        p.finish_at(secs(0.9));
        assert!(p.out.is_empty());
    }

    #[test]
    fn a_terminal_gets_one_rewritten_line_a_second() {
        let mut p = Progress::new(Vec::new(), true, 1000);
        // 100 samples a second for 10 s.
        for i in 1..=1000 {
            p.tick_at(i, ms(10 * i));
        }
        p.finish_at(secs(10.0));
        let text = String::from_utf8(std::mem::take(&mut p.out)).unwrap();
        assert_eq!(text.matches('\r').count(), 10, "{text:?}");
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(
            text.contains("100/1000 samples (10 %), 100 samples/s, about 9 s left"),
            "{text:?}"
        );
        assert!(
            text.ends_with(&format!(
                "\r{:<72}\n",
                "1000/1000 samples in 10 s, 100 samples/s"
            )),
            "{text:?}"
        );
    }

    #[test]
    fn a_log_gets_a_plain_line_every_ten_seconds() {
        let mut p = Progress::new(Vec::new(), false, 300);
        // 10 samples a second for 30 s.
        for i in 1..=300 {
            p.tick_at(i, ms(100 * i));
        }
        p.finish_at(secs(30.0));
        let text = String::from_utf8(std::mem::take(&mut p.out)).unwrap();
        assert!(!text.contains('\r'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "10/300 samples (3 %), 10 samples/s, about 29 s left",
                "110/300 samples (37 %), 10 samples/s, about 19 s left",
                "210/300 samples (70 %), 10 samples/s, about 9 s left",
                "300/300 samples in 30 s, 10 samples/s",
            ]
        );
    }

    #[test]
    fn an_interrupted_batch_ends_the_terminal_line() {
        let mut out = Vec::new();
        {
            let mut p = Progress::new(&mut out, true, 100);
            p.tick_at(10, secs(2.0));
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\r10/100 samples (10 %), 5.0 samples/s, about 18 s left"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(secs(42.4)), "42 s");
        assert_eq!(duration(secs(185.0)), "3 min 05 s");
        assert_eq!(duration(secs(3720.0)), "1 h 02 min");
        assert_eq!(
            line(0, 0, secs(2.0)),
            "0/0 samples (0 %), 0.0 samples/s, time left unknown"
        );
    }
}

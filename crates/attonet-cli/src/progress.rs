//! Progress of a long job on stderr (never stdout: its formats are the
//! output), with the `indicatif` crate: a bar with the count done, the rate
//! and the time left, drawn only on a terminal (nothing in a log or a pipe)
//! and only once the job has run for a second. A job that showed its bar
//! ends with one line giving its total time and rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar: what is counted, a bar, done of total, rate, time left.
const TEMPLATE: &str = "{msg} [{bar:32}] {pos}/{len} {unit} ({rate}/s, {eta} left)";

/// Jobs done within this time show nothing.
const FIRST: Duration = Duration::from_secs(1);

/// A job's progress reporter; [`Progress::tick`] or [`Progress::advance`]
/// after each item (from any thread).
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    unit: &'static str,
    /// Where the bar is drawn once the job has run for [`FIRST`].
    pending: Mutex<Option<ProgressDrawTarget>>,
}

impl Progress {
    /// Progress of `total` items (`unit`: "samples"), `what` the job's name,
    /// on stderr when it is a terminal.
    pub fn stderr(what: &str, total: usize, unit: &'static str) -> Self {
        Progress::with_target(what, total, unit, ProgressDrawTarget::stderr())
    }

    fn with_target(
        what: &str,
        total: usize,
        unit: &'static str,
        target: ProgressDrawTarget,
    ) -> Self {
        let style = ProgressStyle::with_template(&TEMPLATE.replace("{unit}", unit))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}", state.per_sec());
                },
            )
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden())
            .with_style(style)
            .with_message(what.to_string());
        Progress {
            bar,
            start: Instant::now(),
            unit,
            pending: Mutex::new(Some(target)),
        }
    }

    /// `done` items are done.
    pub fn tick(&self, done: usize) {
        self.show_once_past_first(self.start.elapsed());
        self.bar.set_position(done as u64);
    }

    /// One more item is done.
    pub fn advance(&self) {
        self.show_once_past_first(self.start.elapsed());
        self.bar.inc(1);
    }

    /// Gives the bar its draw target once the job has run for [`FIRST`]
    /// (`elapsed` since the start; a lock while the bar is hidden, nothing
    /// after it is drawn).
    fn show_once_past_first(&self, elapsed: Duration) {
        if self.bar.is_hidden() && elapsed >= FIRST {
            if let Some(target) = self.pending.lock().ok().and_then(|mut p| p.take()) {
                self.bar.set_draw_target(target);
            }
        }
    }

    /// Ends the bar; if it was shown, one line with the total time and rate.
    pub fn finish(&self) {
        let shown = !self.bar.is_hidden();
        self.bar.finish_and_clear();
        if shown {
            let secs = self.start.elapsed().as_secs_f64();
            let done = self.bar.position();
            eprintln!(
                "{}: {done} {} in {secs:.1} s ({:.0} {}/s)",
                self.bar.message(),
                self.unit,
                done as f64 / secs.max(1e-9),
                self.unit
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_valid_for_every_unit() {
        for unit in ["samples", "sample runs"] {
            assert!(ProgressStyle::with_template(&TEMPLATE.replace("{unit}", unit)).is_ok());
        }
    }

    #[test]
    fn the_bar_gets_its_target_only_after_the_first_second() {
        let p = Progress::with_target("run", 10, "samples", ProgressDrawTarget::hidden());
        let pending = |p: &Progress| p.pending.lock().unwrap().is_some();
        p.show_once_past_first(Duration::from_millis(999));
        assert!(pending(&p), "handed over before the first second");
        p.show_once_past_first(FIRST);
        assert!(!pending(&p), "still pending after the first second");
        p.tick(5);
        assert_eq!(p.bar.position(), 5);
        p.advance();
        assert_eq!(p.bar.position(), 6);
    }
}

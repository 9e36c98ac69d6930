//! A progress bar for long operator commands (notices, key rotation, archiving): one
//! line on standard error, redrawn in place on a terminal and printed at every tenth
//! otherwise, so a log file shows progress without thousands of lines.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress through `total` items of work described by `label`.
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    terminal: bool,
    /// The last tenth printed when not on a terminal.
    last_tenth: u64,
}

const WIDTH: u64 = 30;

impl Progress {
    #[must_use]
    pub fn new(label: &str, total: u64) -> Self {
        let progress = Self {
            label: label.to_owned(),
            total,
            done: 0,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            last_tenth: 0,
        };
        progress.draw();
        progress
    }

    /// Counts `n` more items done.
    pub fn advance(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        let tenth = self.done.saturating_mul(10) / self.total.max(1);
        if self.terminal || tenth > self.last_tenth {
            self.last_tenth = tenth;
            self.draw();
        }
    }

    /// Ends the bar with a summary line.
    pub fn finish(self) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            // Counts far below 2^52: the conversion is exact.
            #[allow(clippy::cast_precision_loss)]
            let done = self.done as f64;
            done / secs
        } else {
            0.0
        };
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(
            err,
            "{}: {} of {} in {secs:.1} s ({rate:.0}/s)",
            self.label, self.done, self.total
        );
    }

    #[must_use]
    pub fn done(&self) -> u64 {
        self.done
    }

    fn draw(&self) {
        let filled = self.done.saturating_mul(WIDTH) / self.total.max(1);
        let percent = self.done.saturating_mul(100) / self.total.max(1);
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let mut err = std::io::stderr().lock();
        let line = format!(
            "{} [{bar}] {}/{} ({percent}%)",
            self.label, self.done, self.total
        );
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_what_is_done_even_past_an_empty_total() {
        let mut p = Progress::new("empty", 0);
        p.advance(5);
        assert_eq!(p.done(), 5, "more done than announced is still counted");
        let mut p = Progress::new("ten", 10);
        p.advance(3);
        p.advance(3);
        assert_eq!(p.done(), 6);
        p.finish();
    }
}

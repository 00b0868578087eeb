//! Progress of long work (export, import, scans) on stderr: an indicatif bar on a terminal,
//! plain progress lines (at most one every two seconds) otherwise.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// A progress report; clones report to the same bar.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Mutex<State>>,
}

struct State {
    label: String,
    unit: &'static str,
    total: Option<u64>,
    done: u64,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    /// Starts reporting `label` (`"export"`) in `unit`s (`"events"`, `"bytes"`), out of `total`
    /// when known.
    pub fn start(label: &str, unit: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::new_spinner(),
            };
            let template = match (total, unit) {
                (Some(_), "bytes") => "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})",
                (Some(_), _) => "{msg} [{bar:40}] {pos}/{len} ({eta})",
                (None, _) => "{msg} {spinner} {pos}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            inner: Arc::new(Mutex::new(State {
                label: label.to_owned(),
                unit,
                total,
                done: 0,
                bar,
                last_line: Instant::now(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts `n` more units done.
    pub fn add(&self, n: u64) {
        let mut state = self.state();
        state.done += n;
        let done = state.done;
        if let Some(bar) = &state.bar {
            bar.set_position(done);
        } else if state.last_line.elapsed() >= PLAIN_EVERY {
            state.last_line = Instant::now();
            eprintln!("{}", state.line());
        }
    }

    /// Ends the report: clears the bar, or prints a last plain line.
    pub fn finish(&self) {
        let state = self.state();
        match &state.bar {
            Some(bar) => bar.finish_and_clear(),
            None if state.done > 0 => eprintln!("{}", state.line()),
            None => {}
        }
    }
}

impl State {
    fn line(&self) -> String {
        match self.total {
            Some(total) => format!("{}: {}/{} {}", self.label, self.done, total, self.unit),
            None => format!("{}: {} {}", self.label, self.done, self.unit),
        }
    }
}

//! Child processes of a test binary: the binary re-runs itself with `--exact child_entry` and an
//! environment variable telling its `child_entry` test what to do (that test does nothing
//! without it). Output arrives line by line; a child is killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A child process of this test binary, killed when dropped; its stdout arrives line by line.
pub struct ChildProcess {
    pub child: Child,
    stdin: Option<ChildStdin>,
    pub lines: Receiver<String>,
}

impl ChildProcess {
    /// Runs this test binary's `child_entry` test with `variable` set to `value`.
    pub fn spawn(variable: &str, value: String) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(variable, value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            // Only complete lines: a child killed mid-write may leave half a line.
            while matches!(stdout.read_line(&mut line), Ok(n) if n > 0) && line.ends_with('\n') {
                if sender.send(line.trim_end().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let stdin = child.stdin.take();
        ChildProcess {
            child,
            stdin,
            lines,
        }
    }

    /// The next line starting with `prefix` (libtest's own lines are skipped); `None` once the
    /// child's output ended.
    pub fn next_line(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => panic!("child said nothing for {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Writes one line to the child's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to child");
        stdin.flush().expect("flush");
    }

    /// Waits for the child to exit successfully and returns its remaining `prefix` lines.
    pub fn finish(mut self, prefix: &str) -> Vec<String> {
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "child failed: {status}");
        self.lines
            .iter()
            .filter(|line| line.starts_with(prefix))
            .collect()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

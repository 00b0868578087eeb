//! What the tests of the `evstore` program share: a real `evstore serve` process on a free
//! 127.0.0.1 port (killed and waited for when dropped), a CLI runner, an HTTP client and an SSE
//! reader.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tempfile::TempDir;

pub mod lifecycle;

/// The `evstore` binary Cargo built for these tests.
pub fn evstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_evstore"))
}

/// Runs `evstore args…` to completion.
pub fn run(args: &[&str]) -> Output {
    evstore().args(args).output().expect("run evstore")
}

/// Runs `evstore args…` with `stdin` as its standard input.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = evstore()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn evstore");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The standard output of a run that must succeed.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        stderr(&output),
        stdout(&output)
    );
    stdout(&output)
}

/// The standard error of a run that must fail with status 1 (an error, not bad usage).
pub fn fails(output: Output) -> String {
    assert!(!output.status.success(), "succeeded: {}", stdout(&output));
    assert_eq!(output.status.code(), Some(1));
    stderr(&output)
}

/// Each line of `text` as JSON.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `evstore serve`, stopped (SIGKILL + wait) when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub db: PathBuf,
    /// Everything the server wrote to stderr so far.
    log: Arc<Mutex<String>>,
    _dir: Option<TempDir>,
}

impl Server {
    /// A server over a fresh store in a temporary directory, with `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("events.db");
        let mut server = Server::start_on(&db, extra);
        server._dir = Some(dir);
        server
    }

    /// A server over the store at `db`, on a free 127.0.0.1 port unless `extra` has `--listen`.
    pub fn start_on(db: &Path, extra: &[&str]) -> Server {
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = evstore()
            .arg("serve")
            .args(listen)
            .arg("--db")
            .arg(db)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn evstore serve");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let address = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "evstore serve did not start: {first:?} {}",
                    log.lock().unwrap()
                )
            })
            .to_owned();
        Server {
            child: Some(child),
            base: address,
            db: db.to_owned(),
            log,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// What the server printed on stderr.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until the server's stderr contains `text`; what it printed so far.
    pub fn wait_for_log(&self, text: &str) -> String {
        for _ in 0..200 {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("`{text}` never appeared in the log: {}", self.log())
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited with 0.
    pub fn terminate(&mut self) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut child = self.child.take().unwrap();
        let status = child.wait().unwrap();
        status.success()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One event of an append body.
pub fn event(event_type: &str, n: u64) -> Value {
    json!({ "type": event_type, "data": { "n": n } })
}

/// `POST /v1/streams/{stream}` with `body`; the status and the JSON answer.
pub async fn post(
    client: &reqwest::Client,
    server: &Server,
    stream: &str,
    body: &Value,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = client
        .post(server.url(&format!("/v1/streams/{stream}")))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

/// `GET path` (with a token); the status and the JSON answer.
pub async fn get(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = client.get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text:?}"));
    (status, value)
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// Reads the server-sent events of a response one at a time.
pub struct SseReader {
    bytes: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseReader {
            bytes: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = ("message".to_owned(), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment
                }
                return Some(Sse {
                    event,
                    id,
                    data: serde_json::from_str(&data).expect("SSE data is JSON"),
                });
            }
            match tokio::time::timeout(Duration::from_secs(20), self.bytes.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => return None,
                Err(_) => panic!("no server-sent event within 20 s"),
            }
        }
    }

    /// The next `event`, skipping `caughtUp` markers (a live subscription says it is caught up
    /// after each batch it delivers, so they may come between any two live events).
    pub async fn next_event(&mut self) -> Sse {
        loop {
            let sse = self.next().await.expect("the stream ended early");
            if sse.event != "caughtUp" {
                return sse;
            }
        }
    }

    /// The positions of the next `count` events (`caughtUp` markers skipped).
    pub async fn positions(&mut self, count: usize) -> Vec<u64> {
        let mut positions = Vec::new();
        while positions.len() < count {
            let sse = self.next_event().await;
            assert_eq!(sse.event, "event", "{sse:?}");
            let position = sse.data["position"].as_u64().unwrap();
            assert_eq!(sse.id.as_deref(), Some(position.to_string().as_str()));
            positions.push(position);
        }
        positions
    }
}

/// Reads all of a file as text.
pub fn read_text(path: &Path) -> String {
    let mut text = String::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

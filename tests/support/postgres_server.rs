//! A private PostgreSQL server for tests and benchmarks, started from the machine's PostgreSQL
//! binaries (Debian's `postgresql` package; `scripts/ensure-tools.sh` installs it) in a
//! temporary directory, reachable only through a unix socket in that directory.
//!
//! - The binaries are found in `$EVSTORE_PG_BINDIR`, else the newest
//!   `/usr/lib/postgresql/<version>/bin`, else on `PATH`. A missing PostgreSQL is a panic with
//!   the reason, never a skipped test.
//! - `initdb` refuses to run as root, so as root (CI) every server command runs as the
//!   `postgres` user through `runuser -u postgres`, and the directory is handed to that user.
//! - A [`PgServer`] stops its server and removes its directory when dropped. A watchdog
//!   process does the same once the process that started the server is gone, however it ended
//!   (a failed test, a panic, SIGKILL), so no server outlives its test binary; the shared server
//!   of a test binary ([`PgServer::shared`]) relies on it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The database user every connection uses (created by `initdb -U`, trusted on the socket).
pub const USER: &str = "evstore";
/// The port number naming the socket file (no TCP listener is opened).
const PORT: u16 = 5432;

/// A running private PostgreSQL server.
pub struct PgServer {
    dir: PathBuf,
    bindir: PathBuf,
    as_postgres: bool,
    fsync: bool,
}

impl PgServer {
    /// The server shared by every test of this test binary (started on first use, fsync off).
    pub fn shared() -> &'static PgServer {
        static SERVER: OnceLock<PgServer> = OnceLock::new();
        SERVER.get_or_init(|| PgServer::start(false))
    }

    /// Starts a new server; `fsync` off trades crash safety for speed (tests), on is what a
    /// production server runs (throughput benchmarks).
    pub fn start(fsync: bool) -> PgServer {
        let bindir = find_bindir();
        let as_postgres = running_as_root();
        let base = std::env::temp_dir();
        // A unix socket path is limited to ~107 bytes.
        let base = if base.as_os_str().len() > 60 {
            PathBuf::from("/tmp")
        } else {
            base
        };
        let dir = tempfile::Builder::new()
            .prefix("evstore-pg-")
            .tempdir_in(base)
            .expect("temporary directory for PostgreSQL")
            .keep();
        let server = PgServer {
            dir,
            bindir,
            as_postgres,
            fsync,
        };
        if as_postgres {
            let (uid, gid) = (id(&["-u", "postgres"]), id(&["-g", "postgres"]));
            std::os::unix::fs::chown(&server.dir, Some(uid), Some(gid))
                .expect("hand the temporary directory to the postgres user");
        }
        server.spawn_watchdog();
        server.run(
            "initdb",
            &[
                "-D",
                &server.data_dir(),
                "-U",
                USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        server.start_server();
        server
    }

    /// A connection string for this server (key-value form, unix socket).
    pub fn connection_string(&self) -> String {
        format!(
            "host={} port={PORT} user={USER} dbname=postgres",
            self.dir.display()
        )
    }

    /// The directory of the socket (the server's temporary directory).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the (stopped) server again.
    pub fn start_server(&self) {
        let fsync = if self.fsync { "on" } else { "off" };
        let settings = format!(
            "-c listen_addresses='' -k {} -p {PORT} -c fsync={fsync} -c full_page_writes={fsync} \
             -c max_connections=300 -c dynamic_shared_memory_type=mmap -c shared_buffers=64MB",
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-l",
                &self.log_file(),
                "-w",
                "-t",
                "60",
                "-o",
                &settings,
                "start",
            ],
        );
    }

    /// Stops the server (fast shutdown: connections are ended, nothing committed is lost).
    pub fn stop_server(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                "stop",
            ],
        );
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log_file(&self) -> String {
        self.dir.join("server.log").display().to_string()
    }

    /// Runs one of the server's programs (as the postgres user when root), panicking with its
    /// output and the server log when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program, args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        if !output.status.success() {
            panic!(
                "{program} {args:?} failed ({}):\n{}{}\nserver log:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.log()
            );
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bindir.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args);
        command
    }

    /// A detached shell that stops the server and removes its directory once this process is
    /// gone.
    fn spawn_watchdog(&self) {
        let pg_ctl = self.bindir.join("pg_ctl");
        let runner = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {runner}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = self.data_dir(),
            dir = self.dir.display(),
        );
        // `setsid -f` forks the watchdog into its own session and returns at once.
        let started = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("start the PostgreSQL watchdog (setsid, sh)");
        assert!(started.success(), "setsid failed: {started}");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .command(
                "pg_ctl",
                &["-D", &self.data_dir(), "-w", "-m", "immediate", "stop"],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory of `initdb` and `pg_ctl`.
fn find_bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVSTORE_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    if let Some((_, bin)) = newest {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin \
             or on PATH: run scripts/ensure-tools.sh (installs Debian's postgresql) or set \
             EVSTORE_PG_BINDIR"
        )
    })
}

fn running_as_root() -> bool {
    id(&["-u"]) == 0
}

/// What `id ARGS` prints, as a number.
fn id(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().expect("run id");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("`id {args:?}` printed no number (is there a postgres user?)"))
}

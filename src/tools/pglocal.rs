//! A private, throwaway Postgres for `demo` and the test suite, made from the
//! system's PostgreSQL binaries when no `DATABASE_URL` is given.
//!
//! The server runs under a tiny shell that waits on its stdin, a pipe we hold:
//! when our process exits for any reason the pipe closes, the shell stops the
//! server and removes its directory. So nothing outlives us, even on a panic.
//! `initdb` refuses to run as root, so as root the cluster belongs to the
//! `postgres` user (Debian's packages create it).
//!
//! A test can take the server down and bring it back on the same port and
//! data directory ([`LocalPostgres::stop`], [`LocalPostgres::start_again`]):
//! the database-outage scenario of the chaos suite.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use std::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum PgLocalError {
    #[error(
        "no PostgreSQL server binaries found (looked for initdb in /usr/lib/postgresql/*/bin and PATH); \
         install them (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL"
    )]
    NotInstalled,
    #[error("running as root needs a `postgres` user to own the throwaway cluster; create it or set DATABASE_URL")]
    NoPostgresUser,
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
}

/// A running throwaway cluster; dropped with the process.
pub struct LocalPostgres {
    pub url: String,
    _server: Child,
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    fsync: &'static str,
    as_postgres: bool,
}

fn step(step: &'static str) -> impl Fn(std::io::Error) -> PgLocalError {
    move |e| PgLocalError::Step { step, detail: e.to_string() }
}

/// Finds the newest installed server's binary directory.
pub fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    if let Some((_, d)) = dirs.pop() {
        return Some(d);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find(|p| p.join("initdb").exists() && p.join("postgres").exists())
    })
}

fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

/// Wraps `script` to run as `postgres` when we are root.
fn shell(script: &str, as_postgres: bool) -> Command {
    let cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    };
    cmd
}

/// Starts a cluster in a fresh temporary directory and returns its URL
/// (database `postgres`, user `postgres`, no password, 127.0.0.1).
/// `durable = false` turns fsync off: for tests, never for measurements.
pub async fn start(durable: bool) -> Result<LocalPostgres, PgLocalError> {
    let bin = bin_dir().ok_or(PgLocalError::NotInstalled)?;
    let as_postgres = is_root();
    if as_postgres
        && std::process::Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    {
        return Err(PgLocalError::NoPostgresUser);
    }
    let dir = std::env::temp_dir().join(format!("stripe-mirror-pg-{}-{}", std::process::id(), fastrand::u32(..)));
    let port = free_port().map_err(step("finding a free port"))?;
    let bin = bin.display();
    let dir_s = dir.display();
    let init = format!("mkdir -p '{dir_s}' && '{bin}/initdb' -D '{dir_s}/data' -U postgres -A trust --no-sync -E UTF8 >'{dir_s}/initdb.log' 2>&1");
    if as_postgres {
        std::fs::create_dir_all(&dir).map_err(step("creating the cluster directory"))?;
        let status = std::process::Command::new("chown").args(["postgres:", &dir.display().to_string()]).status();
        if !status.map(|s| s.success()).unwrap_or(false) {
            return Err(PgLocalError::Step { step: "chown to postgres", detail: dir.display().to_string() });
        }
    }
    let out = shell(&init, as_postgres).output().map_err(step("initdb"))?;
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default();
        return Err(PgLocalError::Step { step: "initdb", detail: log });
    }
    let fsync = if durable { "on" } else { "off" };
    let options = server_options(&dir_s.to_string(), port, fsync);
    // The shell waits for stdin to close (our exit), then stops the server
    // (whichever postmaster runs on the data directory now: a test may have
    // restarted it) and cleans up.
    let run = format!(
        "'{bin}/postgres' -D '{dir_s}/data' {options} >'{dir_s}/server.log' 2>&1 & \
         cat >/dev/null; '{bin}/pg_ctl' -D '{dir_s}/data' -m fast -w stop >/dev/null 2>&1; wait; rm -rf '{dir_s}'"
    );
    let server = shell(&run, as_postgres).stdin(Stdio::piped()).spawn().map_err(step("starting postgres"))?;
    let pg = LocalPostgres {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        _server: server,
        bin: PathBuf::from(bin.to_string()),
        dir,
        port,
        fsync,
        as_postgres,
    };
    pg.wait_ready().await?;
    Ok(pg)
}

/// The postmaster's options: private socket directory, our port, loopback only.
/// Durability stays as configured (synchronous_commit is on). The WAL
/// settings are what BENCHMARKS.md recommends to operators: compressed
/// full-page images, and checkpoints on time rather than forced by volume.
fn server_options(dir: &str, port: u16, fsync: &str) -> String {
    format!(
        "-k '{dir}' -p {port} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=200 \
         -c shared_buffers=256MB -c wal_compression=lz4 -c max_wal_size=4GB -c checkpoint_timeout=15min"
    )
}

impl LocalPostgres {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits (up to 10 s) until the server accepts connections.
    async fn wait_ready(&self) -> Result<(), PgLocalError> {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok()
                && <sqlx::PgConnection as sqlx::Connection>::connect(&self.url).await.is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(PgLocalError::Step { step: "waiting for postgres", detail: log })
    }

    fn pg_ctl(&self, step_name: &'static str, args: &str) -> Result<(), PgLocalError> {
        let (bin, dir) = (self.bin.display(), self.dir.display());
        let script = format!("'{bin}/pg_ctl' -D '{dir}/data' {args} >>'{dir}/pg_ctl.log' 2>&1");
        let status = shell(&script, self.as_postgres)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(step(step_name))?;
        if status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.join("pg_ctl.log")).unwrap_or_default();
        Err(PgLocalError::Step { step: step_name, detail: log })
    }

    /// Stops the server (fast shutdown: sessions are disconnected, data kept).
    /// Returns once it is down.
    pub fn stop(&self) -> Result<(), PgLocalError> {
        self.pg_ctl("stopping postgres", "-m fast -w stop")
    }

    /// Kills the server as a crash would (immediate shutdown: no checkpoint,
    /// WAL not yet written is lost; the next start runs crash recovery).
    pub fn crash(&self) -> Result<(), PgLocalError> {
        self.pg_ctl("crashing postgres", "-m immediate -w stop")
    }

    /// Starts a stopped server again on the same port and data directory;
    /// returns once it accepts connections.
    pub async fn start_again(&self) -> Result<(), PgLocalError> {
        let options = server_options(&self.dir.display().to_string(), self.port, self.fsync);
        let dir = self.dir.display();
        self.pg_ctl("restarting postgres", &format!("-l '{dir}/server.log' -o \"{options}\" -w start"))?;
        self.wait_ready().await
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `DATABASE_URL` when set, else a private cluster; keep the returned guard
/// alive as long as the cluster is needed.
pub async fn from_env_or_start(durable: bool) -> Result<(String, Option<LocalPostgres>), PgLocalError> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok((url, None)),
        _ => {
            let pg = start(durable).await?;
            Ok((pg.url.clone(), Some(pg)))
        }
    }
}

/// Creates a new, empty database on the server `base` points at (tests and
/// benchmarks give each run its own); returns its URL.
pub async fn create_database(base: &str, prefix: &str) -> Result<String, sqlx::Error> {
    use sqlx::Connection;
    let name = format!("{prefix}_{}_{}", std::process::id(), fastrand::u32(..));
    let mut admin = sqlx::PgConnection::connect(base).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    let (path, query) = match base.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (base, String::new()),
    };
    let prefix_url = path.rsplit_once('/').map_or(path, |(p, _)| p);
    Ok(format!("{prefix_url}/{name}{query}"))
}

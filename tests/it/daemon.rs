//! The real `stripe-mirror serve` binary as a child process: for the tests
//! that need signals (`kill -9`, SIGTERM) or several processes on one
//! database.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::SECRET;

/// A `serve` child process; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0").local_addr().expect("local addr").port()
}

impl Daemon {
    /// Starts `serve` on `port` against `db` with the test secret, plus
    /// `env`, and waits until `/healthz` answers.
    pub async fn start(db: &str, port: u16, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_logging(db, port, env, &[], Stdio::null()).await
    }

    /// As [`Daemon::start`], with `args` before `serve` (e.g. `--config`) and
    /// the daemon's stderr (its log) sent to `log`.
    pub async fn start_logging(db: &str, port: u16, env: &[(&str, &str)], args: &[&str], log: Stdio) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stripe-mirror"));
        command
            .args(args)
            .arg("serve")
            .env("DATABASE_URL", db)
            .env("STRIPE_WEBHOOK_SECRET", SECRET)
            .env("STRIPE_MIRROR_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .env_remove("STRIPE_SECRET_KEY")
            .env_remove("STRIPE_API_BASE")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let daemon = Daemon { child: command.spawn().expect("spawn stripe-mirror serve"), port };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(daemon.http("/healthz")).send().await.is_ok() {
                return daemon;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("daemon did not start on port {port}");
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn webhook_url(&self) -> String {
        self.http("/webhooks/stripe")
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. "TERM") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit; its exit code, or None on timeout.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

/// A signed POST of `body` to `url` with the test secret; the status.
pub async fn post_signed(http: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<u16, reqwest::Error> {
    let t = chrono::Utc::now().timestamp();
    let header = format!("t={t},v1={}", stripe_mirror::push::signature::sign(SECRET, t, &body));
    Ok(http.post(url).header("stripe-signature", header).body(body).send().await?.status().as_u16())
}

//! Startup and idle footprint of `serve` (the real binary, this profile's
//! build): time from spawn to systemd's `READY=1` (migrations current,
//! listener bound) against an already migrated database, and resident
//! memory after a few idle seconds. Targets (issue "operate it"): READY
//! ≤ 200 ms, idle RSS ≤ 25 MB.
//!
//! Run: `cargo bench --bench startup` (uses DATABASE_URL if set, else a
//! throwaway cluster). `STARTUP_BENCH_RUNS` sets the number of starts (default 20).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (base, _pg) = stripe_mirror::tools::pglocal::from_env_or_start(true).await?;
    let db = stripe_mirror::tools::pglocal::create_database(&base, "startup").await?;
    let bin = env!("CARGO_BIN_EXE_stripe-mirror");
    let migrated = Command::new(bin).arg("migrate").env("DATABASE_URL", &db).stdout(Stdio::null()).status()?;
    anyhow::ensure!(migrated.success(), "migrate failed");
    let runs: usize = std::env::var("STARTUP_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("sm-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sock_path = dir.join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&sock_path)?;
    let mut ready_ms = Vec::new();
    let mut idle_rss_kb = 0;
    for i in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .arg("serve")
            .env("DATABASE_URL", &db)
            .env("STRIPE_WEBHOOK_SECRET", "whsec_bench")
            .env("STRIPE_MIRROR_LISTEN", "127.0.0.1:0")
            .env("NOTIFY_SOCKET", &sock_path)
            .env("RUST_LOG", "warn")
            .env_remove("STRIPE_SECRET_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut buf = [0u8; 512];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut buf)).await??;
            if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
                break;
            }
        }
        ready_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if i == runs - 1 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            idle_rss_kb = rss_kb(child.id())?;
        }
        child.kill()?;
        child.wait()?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    ready_ms.sort_by(f64::total_cmp);
    let p50 = ready_ms[ready_ms.len() / 2];
    let max = ready_ms[ready_ms.len() - 1];
    println!(
        "startup: {runs} starts of `serve` on a migrated database, {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!("spawn → READY=1: p50 {p50:.1} ms, max {max:.1} ms, min {:.1} ms (target ≤ 200 ms)", ready_ms[0]);
    println!("idle RSS after 5 s: {:.1} MB (target ≤ 25 MB)", idle_rss_kb as f64 / 1024.0);
    Ok(())
}

/// VmRSS of `pid` in kB, from /proc.
fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}

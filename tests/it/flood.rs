//! A measurement, not a check (ignored by default; figures in BENCHMARKS.md):
//! the peak RSS of the real `serve` binary while many unauthenticated
//! clients post 1 MiB bodies at once. A body has to be read whole before its
//! signature can be checked, so without a cap every connection holds its
//! body in memory and the flood's size decides the daemon's.
//!
//! `cargo test --test it flood -- --ignored --nocapture`
//! (`FLOOD_CLIENTS`, default 256; `FLOOD_SECS`, default 10).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::daemon::{free_port, Daemon};
use crate::helpers::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `VmHWM` (peak resident set) of `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand, see BENCHMARKS.md"]
async fn flood_of_1_mib_bodies_peak_rss() {
    let clients = env_or("FLOOD_CLIENTS", 256) as usize;
    let secs = env_or("FLOOD_SECS", 10);
    let db = fresh_database().await;
    let daemon = Daemon::start(&db, free_port(), &[]).await;
    let pid = daemon.child.id();
    let idle = peak_rss_kib(pid);
    // Exactly the default limit (1 MiB): accepted by size, then refused for its signature.
    let body = bytes::Bytes::from(vec![b'x'; 1024 * 1024]);
    let url = daemon.webhook_url();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (body, url) = (body.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            // One connection per client, as a flood from many hosts would be.
            let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
            let mut answers: BTreeMap<String, u64> = BTreeMap::new();
            while Instant::now() < deadline {
                let sent = http.post(&url).header("stripe-signature", "t=1,v1=00").body(body.clone()).send().await;
                let key = match sent {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(_) => "transport error".to_string(),
                };
                *answers.entry(key).or_default() += 1;
            }
            answers
        }));
    }
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        for (k, n) in t.await.expect("client") {
            *answers.entry(k).or_default() += n;
        }
    }
    let peak = peak_rss_kib(pid);
    println!(
        "flood: {clients} clients x {secs} s of 1 MiB unsigned bodies: answers {answers:?}; \
         daemon peak RSS {} MiB (idle {} MiB)",
        peak / 1024,
        idle / 1024
    );
    // Still serving afterwards.
    let ev = event("evt_after_flood", "customer.created", 1, customer("cus_after_flood", "F"));
    let status =
        crate::daemon::post_signed(&reqwest::Client::new(), &url, serde_json::to_vec(&ev).expect("json")).await;
    assert_eq!(status.expect("post"), 200);
}

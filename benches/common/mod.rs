//! What the benchmarks share: reading CPU time from `/proc`, so a figure can
//! say which part — Postgres, the daemon, the load — spent the machine.

use std::time::Duration;

/// `/proc` reports CPU time in clock ticks; Linux's USER_HZ is 100.
pub const TICK: Duration = Duration::from_millis(10);

/// The port in a `postgres://…:port/db` URL: how the cluster's processes
/// are found.
pub fn port_of(url: &str) -> Option<&str> {
    url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next())
}

/// The postmaster listening on `port` (its own time and that of its exited
/// children) plus its live children, in ticks; None when no such process
/// runs on this machine.
pub fn postgres_ticks(port: &str) -> Option<u64> {
    let needle = format!("-p {port} ");
    let procs: Vec<(u32, String, Vec<String>)> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let (comm, fields) = proc_stat(&format!("/proc/{pid}/stat"))?;
            Some((pid, comm, fields))
        })
        .collect();
    let postmaster = procs.iter().find(|(pid, comm, _)| {
        comm == "postgres"
            && std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(&needle))
                .unwrap_or(false)
    })?;
    let mut ticks = (11..=14).map(|i| field(&postmaster.2, i)).sum::<u64>();
    for (_, _, fields) in &procs {
        if field(fields, 1) == u64::from(postmaster.0) {
            ticks += field(fields, 11) + field(fields, 12);
        }
    }
    Some(ticks)
}

/// Fields of `/proc/…/stat` after `(comm)`: index 0 is the state, 1 the
/// parent pid, 11/12 utime/stime, 13/14 cutime/cstime.
pub fn proc_stat(path: &str) -> Option<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    Some((comm, text[close + 1..].split_whitespace().map(str::to_string).collect()))
}

pub fn field(fields: &[String], i: usize) -> u64 {
    fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0)
}

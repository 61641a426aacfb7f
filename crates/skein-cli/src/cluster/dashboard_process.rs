//! A launched cluster's dashboard, on port 8000 + the port offset: served
//! by an attached `cluster up` itself ([`serve_here`]); for a detached one,
//! a background `skein dashboard --dir DIR` process ([`spawn`]), recorded
//! in `cluster.json` and stopped by `cluster down` ([`stop`]).

use super::state::DashboardRecord;
use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The dashboard's port for a cluster at this port offset.
pub fn port(port_offset: u16) -> Option<u16> {
    crate::dashboard_cmd::DEFAULT_PORT.checked_add(port_offset)
}

pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/")
}

/// Serves the dashboard from this (attached) launcher until it exits.
pub async fn serve_here(dir: &Path, port: u16) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot serve it on port {port}"))?;
    let targets = crate::dashboard_cmd::targets_of_cluster(dir)?;
    let app = crate::dashboard_server::router(
        targets,
        Some(dir.to_path_buf()),
        skein_node::dashboard::DEFAULT_INTERVAL_MS,
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("the dashboard stopped: {error}");
        }
    });
    Ok(url(port))
}

/// Starts `skein dashboard --dir DIR --port PORT` in its own process group,
/// logging to DIR/dashboard.log, and waits until it answers (or has exited).
pub fn spawn(executable: &Path, dir: &Path, port: u16) -> anyhow::Result<DashboardRecord> {
    let log_path = dir.join("dashboard.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let dir_text = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut child = Command::new(executable)
        .arg("dashboard")
        .arg("--dir")
        .arg(&dir_text)
        .arg("--port")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!(
                "the dashboard exited ({status}); see {}",
                log_path.display()
            );
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(DashboardRecord {
                pid: child.id(),
                url: url(port),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(DashboardRecord {
        pid: child.id(),
        url: url(port),
    })
}

/// True if `pid` is alive and is a `skein dashboard` (not a recycled pid).
fn is_our_dashboard(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let is_zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true);
    !is_zombie && cmdline.split(|&b| b == 0).any(|a| a == b"dashboard")
}

/// SIGTERM, then SIGKILL after a second; nothing if it is already gone.
pub fn stop(record: &DashboardRecord) {
    if !is_our_dashboard(record.pid) {
        return;
    }
    let pid = Pid::from_raw(record.pid as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if !is_our_dashboard(record.pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill(pid, Signal::SIGKILL);
}

//! Signals to local node processes, guarded against pid reuse.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// True if `pid` is alive and is `skein node --id ID` (not a recycled pid).
pub fn is_our_node(pid: u32, id: u16) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if is_zombie(pid) {
        return false;
    }
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let id_text = id.to_string();
    args.windows(2)
        .any(|w| w[0] == b"--id" && w[1] == id_text.as_bytes())
        && args.contains(&&b"node"[..])
}

/// True if `pid` exists and has not exited. For a process this command just
/// spawned: its cmdline may not show `node` yet (before exec completes).
pub fn is_alive(pid: u32) -> bool {
    !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

pub fn signal(pid: u32, id: u16, signal: Signal) -> bool {
    is_our_node(pid, id) && kill(Pid::from_raw(pid as i32), signal).is_ok()
}

/// SIGCONT (a paused node cannot handle SIGTERM), SIGTERM, then SIGKILL
/// if it has not exited within `grace`. Returns true if it had to be killed.
pub fn stop(pid: u32, id: u16, grace: Duration) -> bool {
    if !is_our_node(pid, id) {
        return false;
    }
    signal(pid, id, Signal::SIGCONT);
    signal(pid, id, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_our_node(pid, id) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(pid, id, Signal::SIGKILL);
    true
}

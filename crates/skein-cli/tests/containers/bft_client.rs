//! Clients appending to a bftlist cluster continuously while faults
//! happen, and the checks on what they saw: every acknowledged append is in
//! the replicas' final list exactly once, the list holds nothing nobody
//! appended, and it orders appends as real time did (an append acknowledged
//! before another was sent comes first) — linearizability for an
//! append-only list.

use skein_bft::Op;
use skein_cli::client_auth::Signer;
use skein_cli::list_cmd::submit;
use skein_core::NodeId;
use skein_node::services::bft_http::{SubmitBody, CLIENT_KEY_SERVICE};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CLIENTS: u32 = 2;
/// Appends per client at most: bounded in count as well as time.
const APPENDS_MAX: i64 = 5_000;
/// Between appends: the list (which replicas send each other whole while
/// converging) stays short, so a debug build on a loaded machine keeps up.
const PAUSE: Duration = Duration::from_millis(200);
/// An address that refuses at once: the stand-in for a replica not reachable now.
pub const UNREACHABLE: &str = "http://127.0.0.1:1";

/// The replicas' API URLs in id order (replica i at index i-1).
#[derive(Clone, Default)]
pub struct Replicas(Arc<Mutex<Vec<String>>>);

impl Replicas {
    pub fn set(&self, apis: Vec<String>) {
        *self.0.lock().unwrap() = apis;
    }
    fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Clone, Debug)]
pub struct Append {
    pub value: i64,
    pub invoked: Duration,
    /// When f+1 replicas agreed it executed, and at which seq; `None`: unknown.
    pub acked: Option<(Duration, i64)>,
}

pub fn run_client(
    client: u32,
    replicas: Replicas,
    secret: skein_core::mac::ClusterSecret,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Vec<Append> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let signer = Signer::Secret(secret);
    let mut appends = Vec::new();
    for n in 1..=APPENDS_MAX {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let apis = replicas.get();
        let value = i64::from(client) * 1_000_000 + n;
        let op = Op::Append(value);
        // A request's timestamp orders it among its client's requests (BFTLIST.md §3).
        let ts = epoch.elapsed().as_micros() as u64 + 1;
        let bodies: Vec<SubmitBody> = (1..=apis.len())
            .map(|i| {
                let key = signer
                    .key(CLIENT_KEY_SERVICE, client, NodeId(i as u16))
                    .unwrap();
                SubmitBody::new(client, ts, &op, key.as_ref())
            })
            .collect();
        let invoked = epoch.elapsed();
        let reply = runtime.block_on(submit(&apis, 1, &bodies, Duration::from_secs(8)));
        let done = epoch.elapsed();
        appends.push(Append {
            value,
            invoked,
            acked: reply.ok().map(|(executed, _)| (done, executed.seq)),
        });
        if appends.last().unwrap().acked.is_some() {
            acked.fetch_add(1, Ordering::Relaxed);
        }
        // After an unknown outcome the same request may still execute; the next gets a newer ts.
        std::thread::sleep(PAUSE);
    }
    appends
}

/// Checks the final list against every client's appends; `Err` says what broke.
pub fn check(list: &[i64], appends: &[Append]) -> Result<(), String> {
    let sent: BTreeMap<i64, &Append> = appends.iter().map(|a| (a.value, a)).collect();
    let mut position = BTreeMap::new();
    for (at, value) in list.iter().enumerate() {
        if !sent.contains_key(value) {
            return Err(format!("the list holds {value}, which nobody appended"));
        }
        if position.insert(*value, at).is_some() {
            return Err(format!("{value} is in the list twice"));
        }
    }
    for append in appends.iter().filter(|a| a.acked.is_some()) {
        if !position.contains_key(&append.value) {
            return Err(format!("acknowledged append {} was lost", append.value));
        }
    }
    // Real-time order: acknowledged a before b was sent ⇒ a before b in the list.
    let mut by_ack: Vec<&Append> = appends.iter().filter(|a| a.acked.is_some()).collect();
    by_ack.sort_by_key(|a| a.acked.unwrap().0);
    for b in appends.iter().filter(|b| position.contains_key(&b.value)) {
        for a in by_ack.iter().take_while(|a| a.acked.unwrap().0 < b.invoked) {
            if position[&a.value] > position[&b.value] {
                return Err(format!(
                    "{} was acknowledged before {} was sent, yet comes after it",
                    a.value, b.value
                ));
            }
        }
    }
    Ok(())
}

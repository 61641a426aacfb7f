//! Clients writing and reading a raft cluster continuously while faults
//! happen, recording every operation for the linearizability checker.
//!
//! Each client puts only its own keys (so the last value it had
//! acknowledged must survive, which the test checks directly) and reads
//! everyone's (so the history has real concurrency for the checker).

use reqwest::{Method, StatusCode};
use serde_json::json;
use skein_cli::leader_http::{Answer, LeaderClient};
use skein_sim::lin::{CasKvInput, CasKvOutput, Operation};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CLIENTS: u64 = 3;
pub const KEYS_PER_CLIENT: u64 = 2;
/// Calls per client at most: every load loop is bounded in count as well as time.
const CALLS_MAX: u64 = 20_000;
/// Between calls: keeps the history small enough to check at once, and
/// [`CALLS_MAX`] calls longer than any run of the test.
const PAUSE: Duration = Duration::from_millis(25);

pub type Op = Operation<CasKvInput, CasKvOutput>;

/// Where the clients send requests: the nodes' API URLs, replaced by the
/// test when a node comes back at a new address.
#[derive(Clone, Default)]
pub struct Apis(Arc<Mutex<(u64, String)>>);

impl Apis {
    pub fn set(&self, apis: String) {
        let mut current = self.0.lock().unwrap();
        if current.1 != apis {
            *current = (current.0 + 1, apis);
        }
    }

    fn get(&self) -> (u64, String) {
        self.0.lock().unwrap().clone()
    }
}

pub fn key_of(client: u64, n: u64) -> u64 {
    client * KEYS_PER_CLIENT + n % KEYS_PER_CLIENT
}

fn outcome(input: &CasKvInput, answer: &anyhow::Result<Answer>) -> Option<CasKvOutput> {
    let answer = answer.as_ref().ok()?;
    match (input, answer.status) {
        (CasKvInput::Get(_), StatusCode::OK) => {
            let value = answer.body["value"].as_str().and_then(|v| v.parse().ok());
            Some(value.map_or(CasKvOutput::Unexpected, |v| CasKvOutput::Value(Some(v))))
        }
        (CasKvInput::Get(_), StatusCode::NOT_FOUND)
            if answer.body["code"].as_str() == Some("key_not_found") =>
        {
            Some(CasKvOutput::Value(None))
        }
        (CasKvInput::Put(..), StatusCode::OK) => Some(CasKvOutput::Ok),
        _ => None,
    }
}

/// A 503 that says nothing was done.
fn refused(answer: &anyhow::Result<Answer>) -> bool {
    answer.as_ref().is_ok_and(|a| {
        a.status == StatusCode::SERVICE_UNAVAILABLE
            && matches!(
                a.body["code"].as_str(),
                Some("no_leader" | "not_leader" | "transfer_in_progress" | "overloaded" | "busy")
            )
    })
}

pub struct ClientRun {
    pub client: u64,
    pub ops: Vec<Op>,
    pub unknown: usize,
}

pub fn run_client(
    client: u64,
    apis: Apis,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    definite: Arc<AtomicUsize>,
) -> ClientRun {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let micros = || epoch.elapsed().as_micros() as u64;
    let mut run = ClientRun {
        client,
        ops: Vec::new(),
        unknown: 0,
    };
    let mut leader_client: Option<(u64, LeaderClient)> = None;
    for seq in 1..=CALLS_MAX {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (version, list) = apis.get();
        if leader_client.as_ref().is_none_or(|(v, _)| *v != version) {
            let made = LeaderClient::new(&list, Duration::from_secs(3)).unwrap();
            leader_client = Some((version, made));
        }
        let http = &leader_client.as_ref().unwrap().1;
        let (input, method, body) = if seq % 2 == 0 {
            let key = key_of(client, seq / 2);
            let value = client * 1_000_000 + seq;
            let body = json!({ "value": value.to_string() });
            (CasKvInput::Put(key, value), Method::PUT, Some(body))
        } else {
            let key = (seq / 2 + client) % (CLIENTS * KEYS_PER_CLIENT);
            (CasKvInput::Get(key), Method::GET, None)
        };
        let key = match input {
            CasKvInput::Get(k) | CasKvInput::Put(k, _) => k,
            _ => unreachable!("only gets and puts"),
        };
        let path = format!("/api/v1/kv/c/{key}");
        std::thread::sleep(PAUSE);
        let invoked = micros();
        let answer = runtime.block_on(http.call(method, &path, body.as_ref(), None));
        let completed = micros();
        match outcome(&input, &answer) {
            Some(output) => {
                run.ops.push(Operation::ok(
                    client as u32,
                    input,
                    output,
                    invoked,
                    completed,
                ));
                definite.fetch_add(1, Ordering::Relaxed);
            }
            None if refused(&answer) => std::thread::sleep(Duration::from_millis(50)),
            None if matches!(input, CasKvInput::Get(_)) => {}
            None => {
                run.ops
                    .push(Operation::unknown(client as u32, input, invoked));
                run.unknown += 1;
            }
        }
    }
    run
}

/// The values `key` may hold now: the last its client had acknowledged
/// (none: absent), and any it sent whose outcome is unknown, since such a
/// put may take effect at any time after it was sent.
pub fn allowed_final_values(run: &ClientRun, key: u64) -> Vec<Option<u64>> {
    let puts = run.ops.iter().filter_map(|op| match op.input {
        CasKvInput::Put(k, value) if k == key => Some((value, op.is_known())),
        _ => None,
    });
    let mut last_acked = None;
    let mut unknown = Vec::new();
    for (value, known) in puts {
        if known {
            last_acked = Some(value);
        } else {
            unknown.push(Some(value));
        }
    }
    let mut allowed = vec![last_acked];
    allowed.extend(unknown);
    allowed
}

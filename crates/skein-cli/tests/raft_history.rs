//! The raft service's real history is linearizable: client threads put,
//! get, compare-and-swap and delete a few keys against a 3-node cluster of
//! real processes while the test SIGKILLs the leader and restarts it,
//! SIGSTOPs a follower and resumes it, and kills and restarts a follower.
//! Every operation's invocation and completion time is recorded (writes
//! whose outcome is unknown — a timeout, a reset connection, a lost
//! leadership — as "may have happened at any point after invocation"), and
//! skein-sim's checker (Wing & Gong search with Porcupine's memoization,
//! CAS-KV model) judges the whole history.
//!
//! Port offset 16100.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use skein_cli::leader_http::{Answer, LeaderClient};
use skein_sim::lin::{
    check, CasKvInput, CasKvModel, CasKvOutput, CheckLimits, LinVerdict, Operation,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::raft::{wait_for, StopOnDrop, CONVERGE_WITHIN};
use support::Cluster;

const CLIENTS: u32 = 4;
const KEYS: u64 = 6;
/// Definite (acknowledged or refused-by-state) operations between faults.
const OPS_PER_PHASE: usize = 120;

type Op = Operation<CasKvInput, CasKvOutput>;

/// What one client knows of a key: the value and revision it last saw.
#[derive(Clone, Copy)]
struct Seen {
    value: Option<u64>,
    revision: u64,
}

/// The outcome of one call as the model sees it: `None` when the request
/// may or may not have taken effect.
fn outcome(input: &CasKvInput, answer: &anyhow::Result<Answer>) -> Option<CasKvOutput> {
    let answer = answer.as_ref().ok()?;
    let code = answer.body["code"].as_str().unwrap_or_default();
    let output = match (input, answer.status) {
        (CasKvInput::Get(_), StatusCode::OK) => {
            let value = answer.body["value"].as_str().and_then(|v| v.parse().ok());
            value.map_or(CasKvOutput::Unexpected, |v| CasKvOutput::Value(Some(v)))
        }
        (CasKvInput::Get(_), StatusCode::NOT_FOUND) if code == "key_not_found" => {
            CasKvOutput::Value(None)
        }
        (CasKvInput::Put(..), StatusCode::OK) => CasKvOutput::Ok,
        (CasKvInput::Delete(_), StatusCode::OK) => CasKvOutput::Deleted {
            existed: answer.body["existed"] == true,
        },
        (CasKvInput::Cas { .. }, StatusCode::OK) => CasKvOutput::Cas { succeeded: true },
        (CasKvInput::Cas { .. }, StatusCode::PRECONDITION_FAILED) => {
            CasKvOutput::Cas { succeeded: false }
        }
        _ => return None,
    };
    Some(output)
}

/// Answers that say nothing was done (the client gave up retrying them).
fn refused(answer: &anyhow::Result<Answer>) -> bool {
    answer.as_ref().is_ok_and(|a| {
        a.status == StatusCode::SERVICE_UNAVAILABLE
            && matches!(
                a.body["code"].as_str(),
                Some("no_leader" | "not_leader" | "transfer_in_progress" | "overloaded" | "busy")
            )
    })
}

struct ClientRun {
    ops: Vec<Op>,
    unknown: usize,
}

fn run_client(
    client_id: u32,
    apis: String,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    definite: Arc<AtomicUsize>,
) -> ClientRun {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = LeaderClient::new(&apis, Duration::from_secs(4)).unwrap();
    let micros = || epoch.elapsed().as_micros() as u64;
    let mut seen: BTreeMap<u64, Seen> = BTreeMap::new();
    let mut run = ClientRun {
        ops: Vec::new(),
        unknown: 0,
    };
    let mut seq = 0u64;
    // A fixed per-client pattern: no global RNG, and every kind of op on every key.
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let key = (seq * 7 + u64::from(client_id)) % KEYS;
        let value = u64::from(client_id) * 1_000_000 + seq;
        let path = format!("/api/v1/kv/h/{key}");
        let known = seen.get(&key).copied();
        let (input, method, body, if_match) = match seq % 10 {
            0..=3 => (CasKvInput::Get(key), Method::GET, None, None),
            4..=6 => (
                CasKvInput::Put(key, value),
                Method::PUT,
                Some(json!({ "value": value.to_string() })),
                None,
            ),
            7 | 8 => {
                let known = known.unwrap_or(Seen {
                    value: None,
                    revision: 0,
                });
                let input = CasKvInput::Cas {
                    key,
                    expected: known.value,
                    value,
                };
                let body = json!({ "value": value.to_string() });
                (input, Method::PUT, Some(body), Some(known.revision))
            }
            _ => (CasKvInput::Delete(key), Method::DELETE, None, None),
        };
        let invoke_us = micros();
        let answer = runtime.block_on(client.call(method, &path, body.as_ref(), if_match));
        let complete_us = micros();
        match outcome(&input, &answer) {
            Some(output) => {
                run.ops.push(Operation::ok(
                    client_id,
                    input,
                    output,
                    invoke_us,
                    complete_us,
                ));
                definite.fetch_add(1, Ordering::Relaxed);
                let body = &answer.as_ref().expect("an answer").body;
                remember(&mut seen, key, &input, &output, body);
            }
            None if refused(&answer) => {}
            // A read that may not have happened changes nothing: leave it out.
            None if matches!(input, CasKvInput::Get(_)) => {}
            None => {
                run.ops
                    .push(Operation::unknown(client_id, input, invoke_us));
                run.unknown += 1;
                seen.remove(&key);
            }
        }
    }
    run
}

/// Updates what the client knows of `key` from a definite answer.
fn remember(
    seen: &mut BTreeMap<u64, Seen>,
    key: u64,
    input: &CasKvInput,
    output: &CasKvOutput,
    body: &Value,
) {
    let revision = body["revision"].as_u64().unwrap_or(0);
    let now = match (input, output) {
        (_, CasKvOutput::Value(value)) => Seen {
            value: *value,
            revision: if value.is_some() { revision } else { 0 },
        },
        (CasKvInput::Put(_, value), _) => Seen {
            value: Some(*value),
            revision,
        },
        (CasKvInput::Cas { value, .. }, CasKvOutput::Cas { succeeded: true }) => Seen {
            value: Some(*value),
            revision,
        },
        (CasKvInput::Delete(_), _) => Seen {
            value: None,
            revision: 0,
        },
        // A failed CAS names only the revision; forget, the next read refreshes.
        _ => {
            seen.remove(&key);
            return;
        }
    };
    seen.insert(key, now);
}

#[test]
fn the_history_under_kills_pauses_and_restarts_is_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::raft_with(
        dir.path(),
        3,
        16_100,
        &["--set", "snapshot_log_entries=100"],
    );
    let mut leader = cluster.leader(&[1, 2, 3]);
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_panic = StopOnDrop(stop.clone());
    let definite = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|id| {
            let (apis, stop, definite) = (cluster.all_apis(), stop.clone(), definite.clone());
            std::thread::spawn(move || run_client(id, apis, epoch, stop, definite))
        })
        .collect();
    let progress = |what: &str| {
        let from = definite.load(Ordering::Relaxed);
        wait_for(what, CONVERGE_WITHIN, || {
            definite.load(Ordering::Relaxed) >= from + OPS_PER_PHASE
        });
    };

    progress("operations before any fault");
    cluster.act("kill", leader);
    progress("operations with the old leader dead");
    cluster.act("restart", leader);
    progress("operations after its restart");
    leader = cluster.leader(&[1, 2, 3]);
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    cluster.act("pause", follower);
    progress("operations with a follower paused");
    cluster.act("resume", follower);
    progress("operations after the resume");
    let other = (1..=3).find(|&id| id != leader && id != follower).unwrap();
    cluster.act("kill", other);
    progress("operations with a follower dead");
    cluster.act("restart", other);
    progress("operations after the follower's restart");
    stop.store(true, Ordering::Relaxed);
    drop(stop_on_panic);

    let runs: Vec<ClientRun> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let unknown: usize = runs.iter().map(|r| r.unknown).sum();
    let ops: Vec<Op> = runs.into_iter().flat_map(|r| r.ops).collect();
    let started = Instant::now();
    let verdict = check(&CasKvModel, &ops, CheckLimits::default());
    eprintln!(
        "{} operations ({unknown} of unknown outcome) over {:.1} s; checked in {:?}: {verdict:?}",
        ops.len(),
        epoch.elapsed().as_secs_f64(),
        started.elapsed()
    );
    match verdict {
        LinVerdict::Linearizable { .. } => {}
        LinVerdict::NotLinearizable(counterexample) => panic!(
            "not linearizable on key h/{}:\n{}",
            counterexample.partition,
            counterexample.ops.join("\n")
        ),
        LinVerdict::Inconclusive(why) => panic!("the checker gave up: {why}"),
    }
    // The check has teeth: one read changed to a value never written fails it.
    let mut tampered = ops.clone();
    let read = tampered
        .iter_mut()
        .find(|o| matches!(o.input, CasKvInput::Get(_)) && o.is_known())
        .expect("some reads");
    read.output = Some(CasKvOutput::Value(Some(u64::MAX)));
    assert!(!check(&CasKvModel, &tampered, CheckLimits::default()).is_linearizable());
    assert!(
        ops.len() >= 7 * OPS_PER_PHASE,
        "too few operations: {}",
        ops.len()
    );
}

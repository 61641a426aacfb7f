//! Every REST endpoint of every built-in service, fed random and malformed
//! input generated from the node's own `/openapi.json`: each answer must be
//! a status the document lists for that operation (or one of the node-wide
//! errors every route may give), a 4xx must carry the JSON error body
//! `{"error", "code"}`, nothing may answer 500, and nothing may hang.
//!
//! Deterministic: the cases come from a seeded generator; a failure prints
//! the seed, the request and the answer. `SKEIN_API_FUZZ_CASES=N` runs more
//! cases per operation (CI runs 12).
//!
//! Port offsets 23_800–23_890 belong to this file (one per service).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases};
use std::time::Duration;

/// Statuses any route may answer whatever its own document says: malformed
/// JSON or parameters, unknown path, wrong method, body over the limit,
/// wrong content type, headers over the limit, rate limit, and a core that
/// is busy or slow.
const NODE_WIDE: [u16; 10] = [400, 404, 405, 413, 415, 422, 429, 431, 503, 504];

const SEED: u64 = 0x5ce1_a9a1;

fn cases_per_operation() -> usize {
    std::env::var("SKEIN_API_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// A value of a random JSON type, nested up to `depth`, sometimes using the
/// names of real fields so it gets past the first layer of parsing.
fn random_json(rng: &mut ChaCha8Rng, depth: u32) -> Value {
    const NAMES: [&str; 10] = [
        "client",
        "ts",
        "op",
        "value",
        "behaviour",
        "seed",
        "id",
        "address",
        "text",
        "key",
    ];
    match rng.random_range(0..if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e300),
        4 => json!(
            [
                "append",
                "read",
                "",
                "é",
                "\u{0}",
                "unresponsive",
                &"x".repeat(300)
            ][rng.random_range(0..7)]
        ),
        5 => json!(u64::MAX),
        6 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.random_range(0..5))
                .map(|_| {
                    let name = NAMES[rng.random_range(0..NAMES.len())].to_string();
                    (name, random_json(rng, depth - 1))
                })
                .collect(),
        ),
    }
}

fn random_segment(rng: &mut ChaCha8Rng) -> String {
    let choices = [
        "a".to_string(),
        "%00".into(),
        "..%2F..%2Fetc".into(),
        "%FF%FE".into(),
        "-1".into(),
        "18446744073709551616".into(),
        "%C3%A9".into(),
        "x".repeat(5000),
        format!("{}", rng.next_u32()),
        "bench%2Fkey".into(),
    ];
    choices[rng.random_range(0..choices.len())].clone()
}

/// One random request for an operation: (description, builder).
fn random_request(
    rng: &mut ChaCha8Rng,
    http: &reqwest::Client,
    base: &str,
    path: &str,
    method: &str,
) -> (String, reqwest::RequestBuilder) {
    let mut concrete = String::new();
    for part in path.split('/').skip(1) {
        concrete.push('/');
        if part.starts_with('{') {
            concrete.push_str(&random_segment(rng));
        } else {
            concrete.push_str(part);
        }
    }
    if rng.random_ratio(1, 4) {
        concrete.push_str(&format!("?limit={}&prefix=%ZZ", rng.random::<i64>()));
    }
    let url = format!("{base}{concrete}");
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let builder = http.request(method.clone(), &url);
    let (body_text, builder) = match rng.random_range(0..7) {
        0 => ("no body".to_string(), builder),
        1 => (
            "not JSON".into(),
            builder
                .header("content-type", "application/json")
                .body("{not json"),
        ),
        2 => (
            "70 KB".into(),
            builder
                .header("content-type", "application/json")
                .body(vec![b'['; 70_000]),
        ),
        3 => (
            "deep nesting".into(),
            builder
                .header("content-type", "application/json")
                .body(format!("{}{}", "[".repeat(2000), "]".repeat(2000))),
        ),
        4 => (
            "text/plain".into(),
            builder.header("content-type", "text/plain").body("hello"),
        ),
        _ => {
            let value = random_json(rng, 3);
            (format!("JSON {value}"), builder.json(&value))
        }
    };
    let shown: String = concrete.chars().take(120).collect();
    (format!("{method} {shown} with {body_text:.200}"), builder)
}

/// The statuses the document lists for one operation.
fn documented(operation: &Value) -> Vec<u16> {
    operation["responses"]
        .as_object()
        .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_default()
}

async fn fuzz_service(service: &str, peers: &[&str], port_offset: u16) {
    let bases = PortBases::shifted(port_offset).unwrap();
    let data = tempfile::tempdir().unwrap();
    let overrides = NodeOverrides {
        id: Some(1),
        service: Some(service.into()),
        peers: Some(peers.iter().map(|p| p.to_string()).collect()),
        data_dir: Some(data.path().to_path_buf()),
        request_timeout_ms: Some(300),
        allow_fault_injection: Some(true),
        ..NodeOverrides::on_ports(bases)
    };
    let settings = NodeSettings::resolve(overrides, Default::default()).unwrap();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let builtin = skein_node::service::builtin();
    let runner = builtin.iter().find(|s| s.name == service).unwrap();
    tokio::spawn(runner.run(settings, shutdown));
    let base = format!("http://127.0.0.1:{}", bases.api + 1);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut document = Value::Null;
    for _ in 0..200 {
        if let Ok(response) = http.get(format!("{base}/openapi.json")).send().await {
            document = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let paths = document["paths"].as_object().expect("an OpenAPI document");
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ u64::from(port_offset));
    let mut failures = Vec::new();
    let mut sent = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let allowed = documented(operation);
            for _ in 0..cases_per_operation() {
                let (what, request) = random_request(&mut rng, &http, &base, path, method);
                sent += 1;
                // A pooled connection the server closed after an earlier
                // answer fails at once: that is the client's pool, so retry
                // once; a second failure is the server's.
                let retry = request.try_clone();
                let response = match request.send().await {
                    Ok(response) => Ok(response),
                    Err(first) => match retry {
                        Some(again) => again.send().await.map_err(|e| format!("{first}; {e}")),
                        None => Err(first.to_string()),
                    },
                };
                let response = match response {
                    Ok(response) => response,
                    Err(error) => {
                        failures.push(format!("{what}: no answer ({error})"));
                        continue;
                    }
                };
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                if status >= 500 && !allowed.contains(&status) && !NODE_WIDE.contains(&status) {
                    failures.push(format!(
                        "{what}: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                    continue;
                }
                if !allowed.contains(&status) && !NODE_WIDE.contains(&status) {
                    failures.push(format!("{what}: undocumented status {status}"));
                }
                if (400..600).contains(&status) {
                    let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if !(error["error"].is_string() && error["code"].is_string()) {
                        failures.push(format!(
                            "{what}: {status} without a JSON error body: {:.200}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{service}: {} of {sent} requests broke the API contract (seed {SEED:#x}, offset {port_offset}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "{service}: {sent} random requests over {} paths, all answered as documented",
        paths.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_endpoints_hold_their_contract_under_random_input() {
    fuzz_service("heartbeat", &["2"], 23_800).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_endpoints_hold_their_contract_under_random_input() {
    fuzz_service("raft", &[], 23_810).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bftlist_endpoints_hold_their_contract_under_random_input() {
    fuzz_service("bftlist", &["2", "3", "4", "5", "6"], 23_820).await;
}

//! `skein list`: a client of the bftlist service (BFTLIST.md §3).
//!
//! A request goes to **every** replica; its result counts once f+1 replicas
//! answer the same sequence number and result, because up to f of them may
//! lie. f is the largest with n ≥ 5f+1 unless `--f` says otherwise.
//!
//! A request is `(client, ts, op)`: `--client` (default 0) picks the client,
//! and `ts` is the current time in microseconds, so a client's timestamps
//! grow. A client must have **one request outstanding at a time** (§3): two
//! `skein list` commands running at once with the same `--client` may
//! supersede each other; give concurrent clients distinct ids.
//!
//! `skein list check` compares the replicas' executed histories: replicas at
//! the same sequence number must hold the same list; replicas at different
//! ones must agree on the hash chain of the log entries both still hold, or
//! (when their bounded logs no longer overlap) the shorter list must be a
//! prefix of the longer one.

pub use crate::list_target::Target;

use crate::cli::UsageError;
use crate::client_auth::{render_keys, Signer, SECRET_FILE};
use crate::http::{block_on, client};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;
use skein_bft::Op;
use skein_core::NodeId;
use skein_node::services::bft_bodies::op_name;
use skein_node::services::bft_http::{ExecutedBody, ListBody, SubmitBody, CLIENT_KEY_SERVICE};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(subcommand)]
    pub command: ListCommand,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Subcommand, Debug)]
pub enum ListCommand {
    /// Append a value; prints the sequence number it executed at.
    Append { value: i64 },
    /// Remove the first occurrence of a value ([EXT]); prints whether it was found.
    Remove { value: i64 },
    /// A linearizable read, ordered through the log: the list as of its sequence number.
    Read,
    /// Every replica's executed list (local reads, not ordered), and the one f+1 replicas share.
    Show,
    /// Check that the replicas' executed histories agree; exits 1 if not.
    Check,
    /// Print `--client`'s own key (needs the cluster secret): hand a client
    /// only its key, and it can sign as itself and no other client.
    Key,
}

pub fn run(args: ListArgs) -> anyhow::Result<()> {
    let apis = args.target.apis()?;
    let f = args.target.f(apis.len());
    let timeout = Duration::from_secs(args.target.timeout_secs.max(1));
    let op = match args.command {
        ListCommand::Append { value } => Op::Append(value),
        ListCommand::Remove { value } => Op::Remove(value),
        ListCommand::Read => Op::Read,
        ListCommand::Show => return block_on(show(&apis, f, timeout)),
        ListCommand::Check => return block_on(check(&apis, f, timeout)),
        ListCommand::Key => return print_key(&args.target),
    };
    let client = args.target.client;
    let signer = args.target.signer()?;
    let ts = now_micros();
    // One body per replica: each carries the tag for that replica's key.
    let bodies = (1..=apis.len())
        .map(|i| {
            let replica = NodeId(i as u16);
            let key = signer.key(CLIENT_KEY_SERVICE, client, replica)?;
            Ok(SubmitBody::new(client, ts, &op, key.as_ref()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let body = bodies[0].clone();
    let (reply, agree) = block_on(submit(&apis, f, &bodies, timeout))?;
    let result = describe(reply.result.as_ref());
    println!(
        "{}{}: {result} at seq {} ({agree} of {} replicas agree; f = {f})",
        op_name(&op),
        body.value.map(|v| format!(" {v}")).unwrap_or_default(),
        reply.seq,
        apis.len()
    );
    Ok(())
}

fn print_key(target: &Target) -> anyhow::Result<()> {
    match target.signer()? {
        Signer::Secret(secret) => {
            let replicas: Vec<NodeId> = (1..=target.apis()?.len() as u16).map(NodeId).collect();
            let keys = render_keys(&secret, CLIENT_KEY_SERVICE, target.client, &replicas);
            println!("{keys}");
            Ok(())
        }
        _ => Err(UsageError(format!(
            "no cluster secret: give --cluster-secret-file, or --dir of a cluster started with \
             authentication (its {SECRET_FILE})"
        ))
        .into()),
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

fn describe(result: Option<&Value>) -> String {
    match result {
        Some(Value::String(s)) if s == "Appended" => "appended".into(),
        Some(r) if r.get("Removed").is_some() => match r["Removed"]["found"].as_bool() {
            Some(true) => "removed".into(),
            _ => "not found".into(),
        },
        Some(r) if r.get("Read").is_some() => format!("list {}", r["Read"]["list"]),
        Some(Value::String(s)) if s == "Duplicate" => "already executed before (no-op)".into(),
        Some(other) => other.to_string(),
        None => "executed".into(),
    }
}

/// One replica's final answer to a submitted request.
enum Answer {
    Executed(ExecutedBody),
    Refused(String),
}

/// Sends `body` to every replica (re-sending to those that time out, which
/// is idempotent) and returns the first reply f+1 replicas agree on.
pub async fn submit(
    apis: &[String],
    f: usize,
    bodies: &[SubmitBody],
    timeout: Duration,
) -> anyhow::Result<(ExecutedBody, usize)> {
    let deadline = Instant::now() + timeout;
    let http = client(timeout);
    let mut tasks = tokio::task::JoinSet::new();
    let body = &bodies[0];
    for (api, body) in apis.iter().zip(bodies) {
        let (http, body) = (http.clone(), body.clone());
        let url = format!("{api}/api/v1/list/requests");
        tasks.spawn(async move { submit_one(&http, &url, &body, deadline).await });
    }
    let read = body.op == "read";
    let mut executed: Vec<ExecutedBody> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();
    let mut silent = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = match tokio::time::timeout(left, tasks.join_next()).await {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => break,
        };
        match next {
            Ok(Some(Answer::Executed(reply))) => executed.push(reply),
            Ok(Some(Answer::Refused(why))) => refusals.push(why),
            Ok(None) | Err(_) => silent += 1,
        }
        if let Some(agreed) = agreed(&executed, f, read) {
            return Ok(agreed);
        }
        if refusals.len() > f {
            anyhow::bail!(
                "{} replicas refused the request: {}",
                refusals.len(),
                refusals[0]
            );
        }
    }
    anyhow::bail!(
        "no f+1 = {} matching replies within {timeout:?} ({} executed replies, {} refusals, {silent} replicas silent); \
         the cluster may be changing views or short of correct replicas — retry, or raise --timeout-secs",
        f + 1,
        executed.len(),
        refusals.len()
    )
}

/// The reply at least f+1 replicas agree on: same seq and same result. A
/// reply without a result (executed before this call) supports any result
/// at its seq, except for reads, whose result is the point.
fn agreed(replies: &[ExecutedBody], f: usize, read: bool) -> Option<(ExecutedBody, usize)> {
    let supports = |r: &ExecutedBody, k: &ExecutedBody| {
        r.seq == k.seq && (r.result == k.result || (!read && r.result.is_none()))
    };
    let mut best: Option<(ExecutedBody, usize)> = None;
    for k in replies {
        let count = replies.iter().filter(|r| supports(r, k)).count();
        let better = best
            .as_ref()
            .is_none_or(|(b, c)| count > *c || (count == *c && b.result.is_none()));
        if better {
            best = Some((k.clone(), count));
        }
    }
    best.filter(|(_, count)| *count > f)
}

/// Asks one replica until it answers for good or the deadline passes.
async fn submit_one(
    http: &reqwest::Client,
    url: &str,
    body: &SubmitBody,
    deadline: Instant,
) -> Option<Answer> {
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let sent = http.post(url).json(body).timeout(left).send().await;
        match sent {
            Ok(response) if response.status().is_success() => {
                return response.json().await.ok().map(Answer::Executed);
            }
            Ok(response) if response.status().is_client_error() => {
                let error: Value = response.json().await.unwrap_or_default();
                let why = error["error"].as_str().unwrap_or("refused").to_string();
                return Some(Answer::Refused(format!("{url}: {why}")));
            }
            // 504 (not executed in time), 503, or no connection: ask again.
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    None
}

/// Every replica's `/api/v1/list` (None: no answer).
async fn lists(apis: &[String], timeout: Duration) -> Vec<Option<ListBody>> {
    let http = client(timeout);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, api) in apis.iter().enumerate() {
        let (http, url) = (http.clone(), format!("{api}/api/v1/list"));
        tasks.spawn(async move {
            let got = async { http.get(&url).send().await.ok()?.json().await.ok() };
            (i, got.await)
        });
    }
    let mut out = vec![None; apis.len()];
    while let Some(Ok((i, list))) = tasks.join_next().await {
        out[i] = list;
    }
    out
}

async fn show(apis: &[String], f: usize, timeout: Duration) -> anyhow::Result<()> {
    let lists = lists(apis, timeout).await;
    for (api, list) in apis.iter().zip(&lists) {
        match list {
            Some(l) => println!("{api}  seq {:>6}  len {:>6}", l.last_exec, l.list.len()),
            None => println!("{api}  (no answer)"),
        }
    }
    let mut groups: BTreeMap<(i64, &[i64]), usize> = BTreeMap::new();
    for l in lists.iter().flatten() {
        *groups.entry((l.last_exec, &l.list[..])).or_default() += 1;
    }
    match groups
        .iter()
        .filter(|(_, &c)| c > f)
        .max_by_key(|((seq, _), _)| *seq)
    {
        Some(((seq, list), count)) => {
            println!("list at seq {seq} ({count} replicas agree): {list:?}");
            Ok(())
        }
        None => anyhow::bail!(
            "no f+1 = {} replicas hold the same list right now; retry, or see each with --api",
            f + 1
        ),
    }
}

/// One replica's executed history: list, last seq, and its log's chain hashes by seq.
struct History {
    api: String,
    last_exec: i64,
    list: Vec<i64>,
    chain: BTreeMap<i64, u64>,
}

/// Fetches the list and, from the full state, the replica's own log chain.
async fn history(http: &reqwest::Client, api: &str) -> Option<History> {
    let status = crate::http::fetch_status(http, api).await.ok()?;
    // Its processor index: its position among the sorted member ids (skein-bft).
    let index = status.peers.iter().filter(|p| p.id < status.id).count();
    let list: ListBody = http
        .get(format!("{api}/api/v1/list"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let state: Value = http
        .get(format!("{api}/api/v1/bft/state"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let rlog = state["rep"]["rep"][index]["rlog"].as_array()?;
    let chain = rlog
        .iter()
        .filter_map(|e| Some((e["req"]["seq"].as_i64()?, e["chain"].as_u64()?)))
        .collect();
    Some(History {
        api: api.to_string(),
        last_exec: list.last_exec,
        list: list.list,
        chain,
    })
}

/// Why two histories disagree, if they do.
fn disagreement(a: &History, b: &History) -> Option<String> {
    if a.last_exec == b.last_exec {
        return (a.list != b.list).then(|| {
            format!(
                "{} and {} both executed up to seq {} but hold different lists",
                a.api, b.api, a.last_exec
            )
        });
    }
    let common: Vec<i64> = a
        .chain
        .keys()
        .filter(|s| b.chain.contains_key(s))
        .copied()
        .collect();
    if !common.is_empty() {
        let bad = common.iter().find(|s| a.chain[s] != b.chain[s])?;
        return Some(format!(
            "{} and {} executed different requests at seq {bad}",
            a.api, b.api
        ));
    }
    let (short, long) = if a.last_exec < b.last_exec {
        (a, b)
    } else {
        (b, a)
    };
    (!long.list.starts_with(&short.list)).then(|| {
        format!(
            "{}'s list (seq {}) is not a prefix of {}'s (seq {})",
            short.api, short.last_exec, long.api, long.last_exec
        )
    })
}

async fn check(apis: &[String], f: usize, timeout: Duration) -> anyhow::Result<()> {
    let http = client(timeout);
    let mut tasks = tokio::task::JoinSet::new();
    for api in apis {
        let (http, api) = (http.clone(), api.clone());
        tasks.spawn(async move { history(&http, &api).await.ok_or(api) });
    }
    let mut histories = Vec::new();
    let mut silent = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.context("a check task failed")? {
            Ok(h) => histories.push(h),
            Err(api) => silent.push(api),
        }
    }
    histories.sort_by(|a, b| a.api.cmp(&b.api));
    let mut problems = Vec::new();
    for (i, a) in histories.iter().enumerate() {
        for b in &histories[i + 1..] {
            problems.extend(disagreement(a, b));
        }
    }
    for h in &histories {
        println!("{}  seq {:>6}  len {:>6}", h.api, h.last_exec, h.list.len());
    }
    for api in &silent {
        println!("{api}  (no answer)");
    }
    if !problems.is_empty() {
        anyhow::bail!("the replicas disagree:\n  {}", problems.join("\n  "));
    }
    if histories.len() < apis.len().saturating_sub(f) {
        anyhow::bail!(
            "only {} of {} replicas answered; at least n-f = {} are needed to check",
            histories.len(),
            apis.len(),
            apis.len() - f
        );
    }
    println!(
        "consistent: {} replicas agree on their executed histories",
        histories.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::DEFAULT_DIR;

    fn reply(seq: i64, result: Option<&str>) -> ExecutedBody {
        ExecutedBody {
            client: 0,
            ts: 1,
            seq,
            result: result.map(|r| Value::String(r.into())),
        }
    }

    fn hist(api: &str, last_exec: i64, list: &[i64], chain: &[(i64, u64)]) -> History {
        History {
            api: api.into(),
            last_exec,
            list: list.to_vec(),
            chain: chain.iter().copied().collect(),
        }
    }

    #[test]
    fn f_follows_5f_plus_1() {
        let t = |f| Target {
            apis: vec![],
            nodes: None,
            port_offset: 0,
            dir: DEFAULT_DIR.into(),
            f,
            client: 0,
            client_key: None,
            cluster_secret_file: None,
            timeout_secs: 1,
        };
        assert_eq!([5, 6, 10, 11, 12].map(|n| t(None).f(n)), [0, 1, 1, 2, 2]);
        assert_eq!(t(Some(3)).f(6), 3);
    }

    #[test]
    fn f_plus_one_matching_replies_are_needed() {
        let a = reply(3, Some("Appended"));
        assert!(agreed(std::slice::from_ref(&a), 1, false).is_none());
        assert_eq!(
            agreed(&[a.clone(), reply(4, Some("Appended"))], 1, false),
            None
        );
        let (got, n) = agreed(&[reply(3, None), a.clone()], 1, false).unwrap();
        assert_eq!((got, n), (a.clone(), 2));
        assert!(agreed(&[reply(3, None), reply(3, Some("x"))], 1, true).is_none());
    }

    #[test]
    fn check_finds_forks_and_accepts_prefixes() {
        let a = hist("a", 2, &[1, 2, 3], &[(1, 11), (2, 12)]);
        let b = hist("b", 1, &[1, 2], &[(0, 10), (1, 11)]);
        assert_eq!(disagreement(&a, &b), None);
        let forked = hist("c", 1, &[1, 2], &[(1, 99)]);
        assert!(disagreement(&a, &forked).unwrap().contains("seq 1"));
        let same_seq = hist("d", 2, &[1, 2, 4], &[]);
        assert!(disagreement(&a, &same_seq)
            .unwrap()
            .contains("different lists"));
        let far = hist("e", 0, &[7], &[(0, 10)]);
        assert!(disagreement(&a, &far).unwrap().contains("prefix"));
    }
}

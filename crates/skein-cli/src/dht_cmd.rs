//! `skein dht`: the `dht` service from the command line — the network and
//! local stores, lookups, ring information, join and leave, and files split
//! into pieces stored by hash under a manifest.
//!
//! Any node serves any key; with several `--api` URLs the first that answers
//! is used.

use crate::cli::UsageError;
use crate::http::{block_on, client};
use crate::leader_http::encode_key;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

/// Piece size for `put-file` when none is given (well under the 64 KiB value limit).
pub const PIECE_BYTES_DEFAULT: usize = 16 * 1024;
/// Pieces one file may have (a 1 GiB file at 16 KiB pieces is 65,536).
pub const PIECES_MAX: usize = 65_536;

#[derive(Args, Debug, Clone)]
pub struct DhtTarget {
    /// A node's REST API, or several separated by commas (the first that answers is used).
    #[arg(long, default_value = "http://127.0.0.1:4001", env = "SKEIN_API")]
    pub api: String,
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Print the node's JSON answer instead of a short line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum DhtCommand {
    /// Store a value under a key (network store, or this node's with --local).
    Put {
        key: String,
        value: String,
        #[arg(long)]
        local: bool,
        #[command(flatten)]
        target: DhtTarget,
    },
    /// Print a key's value.
    Get {
        key: String,
        #[arg(long)]
        local: bool,
        #[command(flatten)]
        target: DhtTarget,
    },
    /// Delete a key.
    Delete {
        key: String,
        #[arg(long)]
        local: bool,
        #[command(flatten)]
        target: DhtTarget,
    },
    /// Which node is responsible for a key, and in how many hops.
    Lookup {
        key: String,
        #[command(flatten)]
        target: DhtTarget,
    },
    /// The node's predecessor, successors and fingers.
    Routing {
        #[command(flatten)]
        target: DhtTarget,
    },
    /// The ring size as the node estimates it.
    Size {
        #[command(flatten)]
        target: DhtTarget,
    },
    /// Make the node join a ring through VIA (`ID@HOST:STREAM_PORT:DATAGRAM_PORT`).
    Join {
        via: String,
        #[command(flatten)]
        target: DhtTarget,
    },
    /// Make the node leave the ring (its keys go to its successor).
    Leave {
        #[command(flatten)]
        target: DhtTarget,
    },
    /// Store a file as pieces keyed by their SHA-256 plus a manifest; prints the manifest key.
    PutFile {
        file: PathBuf,
        #[arg(long, default_value_t = PIECE_BYTES_DEFAULT)]
        piece_bytes: usize,
        #[command(flatten)]
        target: DhtTarget,
    },
    /// Fetch a file by its manifest key, verify every piece and the whole, write it to --out.
    GetFile {
        manifest: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        target: DhtTarget,
    },
}

/// What `put-file` stores under `file/<sha256>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    /// Piece keys in order: `piece/<sha256 of the piece>`.
    pub pieces: Vec<String>,
}

pub fn run(command: DhtCommand) -> anyhow::Result<()> {
    block_on(run_async(command))
}

fn store(local: bool) -> &'static str {
    if local {
        "local"
    } else {
        "keys"
    }
}

async fn run_async(command: DhtCommand) -> anyhow::Result<()> {
    match command {
        DhtCommand::Put {
            key,
            value,
            local,
            target,
        } => {
            let path = format!("/api/v1/dht/{}/{}", store(local), encode_key(&key));
            let answer = call(&target, Method::PUT, &path, Body::Raw(value.into_bytes())).await?;
            show(&target, &answer, || {
                format!(
                    "stored {key} at version {} on {} node(s)",
                    version(&answer),
                    answer["replicas"]
                )
            })
        }
        DhtCommand::Get { key, local, target } => {
            let path = format!("/api/v1/dht/{}/{}", store(local), encode_key(&key));
            let answer = call(&target, Method::GET, &path, Body::None).await?;
            show(&target, &answer, || {
                answer["value"].as_str().unwrap_or_default().to_string()
            })
        }
        DhtCommand::Delete { key, local, target } => {
            let path = format!("/api/v1/dht/{}/{}", store(local), encode_key(&key));
            let answer = call(&target, Method::DELETE, &path, Body::None).await?;
            show(&target, &answer, || match answer["existed"].as_bool() {
                Some(true) => format!("deleted {key}"),
                _ => format!("{key} did not exist"),
            })
        }
        DhtCommand::Lookup { key, target } => {
            let path = format!("/api/v1/dht/lookup/{}", encode_key(&key));
            let answer = call(&target, Method::GET, &path, Body::None).await?;
            show(&target, &answer, || {
                format!(
                    "{key} → node {} ({}) in {} hop(s)",
                    answer["node"]["id"],
                    short(&answer["node"]["ring"]),
                    answer["hops"]
                )
            })
        }
        DhtCommand::Routing { target } => {
            let answer = call(&target, Method::GET, "/api/v1/dht/routing", Body::None).await?;
            show(&target, &answer, || routing_text(&answer))
        }
        DhtCommand::Size { target } => {
            let answer = call(&target, Method::GET, "/api/v1/dht/size", Body::None).await?;
            show(&target, &answer, || {
                format!(
                    "about {:.0} nodes (from {} id gaps)",
                    answer["nodes"].as_f64().unwrap_or(0.0),
                    answer["gaps"]
                )
            })
        }
        DhtCommand::Join { via, target } => {
            let body = Body::Json(json!({ "via": via }));
            let answer = call(&target, Method::POST, "/api/v1/dht/join", body).await?;
            show(&target, &answer, || {
                format!("joining through {via}; see `skein dht routing`")
            })
        }
        DhtCommand::Leave { target } => {
            let answer = call(&target, Method::POST, "/api/v1/dht/leave", Body::None).await?;
            show(&target, &answer, || {
                format!(
                    "left the ring; handed {} key(s) to the successor",
                    answer["items_handed_over"]
                )
            })
        }
        DhtCommand::PutFile {
            file,
            piece_bytes,
            target,
        } => put_file(&target, &file, piece_bytes).await,
        DhtCommand::GetFile {
            manifest,
            out,
            target,
        } => get_file(&target, &manifest, &out).await,
    }
}

fn version(answer: &Value) -> String {
    format!(
        "{}.{}",
        answer["version"]["counter"], answer["version"]["writer"]
    )
}

fn short(ring: &Value) -> String {
    ring.as_str()
        .map_or(String::new(), |r| format!("{}…", &r[..r.len().min(8)]))
}

fn node_line(node: &Value) -> String {
    format!(
        "node {} {} {}",
        node["id"],
        short(&node["ring"]),
        node["address"].as_str().unwrap_or("")
    )
}

fn routing_text(answer: &Value) -> String {
    let mut lines = vec![format!(
        "{} ({})",
        node_line(&answer["node"]),
        answer["state"].as_str().unwrap_or("")
    )];
    lines.push(match answer["predecessor"].is_null() {
        true => "predecessor: none".into(),
        false => format!("predecessor: {}", node_line(&answer["predecessor"])),
    });
    for (i, s) in answer["successors"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        lines.push(format!("successor {}: {}", i + 1, node_line(s)));
    }
    for f in answer["fingers"].as_array().into_iter().flatten() {
        lines.push(format!(
            "fingers {:>3}..{:<3} {}",
            f["from_index"],
            f["to_index"],
            node_line(&f["node"])
        ));
    }
    lines.join("\n")
}

fn show(target: &DhtTarget, answer: &Value, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if target.json {
        println!("{}", serde_json::to_string_pretty(answer)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

enum Body {
    None,
    Raw(Vec<u8>),
    Json(Value),
}

/// One call, to the first API in `--api` that answers; a JSON error becomes an error.
async fn call(target: &DhtTarget, method: Method, path: &str, body: Body) -> anyhow::Result<Value> {
    let http = client(Duration::from_millis(target.timeout_ms));
    let mut last = None;
    for api in target
        .api
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let url = format!("{}{path}", api.trim_end_matches('/'));
        let request = http.request(method.clone(), &url);
        let request = match &body {
            Body::None => request,
            Body::Raw(bytes) => request.body(bytes.clone()),
            Body::Json(value) => request.json(value),
        };
        match request.send().await {
            Ok(response) => return answer_of(&url, response).await,
            Err(error) => {
                last = Some(anyhow::Error::new(error).context(format!("no answer from {url}")))
            }
        }
    }
    Err(last.unwrap_or_else(|| UsageError("--api names no URL".into()).into()))
}

async fn answer_of(url: &str, response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let value: Value = response
        .json()
        .await
        .with_context(|| format!("{url} sent an unreadable answer ({status})"))?;
    if status.is_success() {
        return Ok(value);
    }
    let why = value["error"].as_str().unwrap_or("no reason given");
    if status == StatusCode::NOT_FOUND {
        bail!("not found: {why}");
    }
    bail!("{url}: {status}: {why}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn value_bytes(answer: &Value) -> anyhow::Result<Vec<u8>> {
    let value = answer["value"]
        .as_str()
        .context("the answer has no value")?;
    match answer["encoding"].as_str() {
        Some("hex") => (0..value.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(value.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .context("a hex value that is not hex"),
        _ => Ok(value.as_bytes().to_vec()),
    }
}

async fn put_file(target: &DhtTarget, file: &PathBuf, piece_bytes: usize) -> anyhow::Result<()> {
    if !(1..=60 * 1024).contains(&piece_bytes) {
        return Err(UsageError("--piece-bytes must be 1 to 61440".into()).into());
    }
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if data.len().div_ceil(piece_bytes) > PIECES_MAX {
        return Err(UsageError(format!(
            "the file needs more than {PIECES_MAX} pieces; raise --piece-bytes"
        ))
        .into());
    }
    let mut pieces = Vec::new();
    for piece in data.chunks(piece_bytes) {
        let key = format!("piece/{}", hex(&Sha256::digest(piece)));
        let path = format!("/api/v1/dht/keys/{}", encode_key(&key));
        call(target, Method::PUT, &path, Body::Raw(piece.to_vec())).await?;
        pieces.push(key);
    }
    let digest = hex(&Sha256::digest(&data));
    let manifest = Manifest {
        name: file
            .file_name()
            .map_or("file".into(), |n| n.to_string_lossy().into_owned()),
        bytes: data.len() as u64,
        sha256: digest.clone(),
        pieces,
    };
    let key = format!("file/{digest}");
    let path = format!("/api/v1/dht/keys/{}", encode_key(&key));
    call(
        target,
        Method::PUT,
        &path,
        Body::Raw(serde_json::to_vec(&manifest)?),
    )
    .await?;
    println!("{key}");
    eprintln!(
        "stored {} bytes in {} piece(s); fetch with `skein dht get-file {key} --out FILE`",
        data.len(),
        manifest.pieces.len()
    );
    Ok(())
}

async fn get_file(target: &DhtTarget, manifest_key: &str, out: &PathBuf) -> anyhow::Result<()> {
    let path = format!("/api/v1/dht/keys/{}", encode_key(manifest_key));
    let answer = call(target, Method::GET, &path, Body::None).await?;
    let manifest: Manifest = serde_json::from_slice(&value_bytes(&answer)?)
        .with_context(|| format!("{manifest_key} is not a file manifest"))?;
    if manifest.pieces.len() > PIECES_MAX {
        bail!(
            "the manifest lists {} pieces, more than {PIECES_MAX}",
            manifest.pieces.len()
        );
    }
    let mut data = Vec::new();
    for key in &manifest.pieces {
        let path = format!("/api/v1/dht/keys/{}", encode_key(key));
        let piece = value_bytes(&call(target, Method::GET, &path, Body::None).await?)?;
        let want = key.strip_prefix("piece/").unwrap_or(key);
        if hex(&Sha256::digest(&piece)) != want {
            bail!("piece {key} does not match its hash; the file is damaged");
        }
        data.extend_from_slice(&piece);
    }
    if hex(&Sha256::digest(&data)) != manifest.sha256 || data.len() as u64 != manifest.bytes {
        bail!("the reassembled file does not match the manifest's SHA-256 and size");
    }
    std::fs::write(out, &data).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "{} ({} bytes, {} pieces) verified and written to {}",
        manifest.name,
        data.len(),
        manifest.pieces.len(),
        out.display()
    );
    Ok(())
}

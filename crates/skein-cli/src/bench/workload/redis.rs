//! redis, as a single-node ceiling for the raft workload
//! (`skein bench --target redis --api redis://127.0.0.1:6379`): put = `SET`,
//! get = `GET`, with the raft workload's keys and values (`bench/NNNNNNNN`,
//! uniform over `--key-space`). A get of an absent key is reported as
//! `404 key_not_found`, as raft's, so the reports compare.
//!
//! The client is a minimal RESP2 client written here: one TCP connection
//! per bench client, one request at a time (the closed loop's contract, as
//! the HTTP clients keep one connection alive), and every reply bounded by
//! [`REPLY_BYTES_MAX`].

use super::raft::key_name;
use super::{KeyGen, Workload};
use crate::bench::args::Op;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The longest reply read: a value of the bench's largest size plus framing.
pub const REPLY_BYTES_MAX: usize = crate::bench::args::VALUE_BYTES_MAX + 1024;
/// The longest status or error line read.
const LINE_BYTES_MAX: usize = 1024;

/// One RESP2 reply, as much as the bench needs of it.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and other simple strings.
    Status(String),
    /// `$N` with its bytes; `None` for `$-1` (no such key).
    Bulk(Option<Vec<u8>>),
    /// `-ERR …`.
    Error(String),
}

/// `*N` `$len` arguments: the request form every redis command takes.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply; refuses anything unexpected or over the bounds.
pub async fn read_reply<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Result<Reply, String> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(LINE_BYTES_MAX as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| "transport")?;
    if read == 0 {
        return Err("connection closed".into());
    }
    let Some(line) = line.strip_suffix(b"\r\n") else {
        return Err("bad reply: no line end".into());
    };
    let (kind, rest) = line.split_first().ok_or("bad reply: empty line")?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Reply::Status(text())),
        b'-' => Ok(Reply::Error(text())),
        b'$' => {
            let len: i64 = text().parse().map_err(|_| "bad reply: bulk length")?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let len = len as usize;
            if len > REPLY_BYTES_MAX {
                return Err("bad reply: too large".into());
            }
            let mut bytes = vec![0; len + 2];
            reader
                .read_exact(&mut bytes)
                .await
                .map_err(|_| "transport")?;
            if !bytes.ends_with(b"\r\n") {
                return Err("bad reply: bulk not terminated".into());
            }
            bytes.truncate(len);
            Ok(Reply::Bulk(Some(bytes)))
        }
        _ => Err(format!("bad reply: unexpected type {:?}", *kind as char)),
    }
}

pub struct RedisWorkload {
    /// `host:port` of the server.
    pub address: String,
    pub op: Op,
    pub key_space: u64,
    pub value: String,
    pub timeout: Duration,
    /// Write key `n % key_space` for request `n` (prefilling).
    pub sequential: bool,
}

pub struct RedisClient {
    connection: Option<BufReader<TcpStream>>,
    keys: KeyGen,
}

impl RedisWorkload {
    fn key(&self, client: &mut RedisClient, n: u64) -> String {
        let k = if self.sequential {
            n % self.key_space
        } else {
            client.keys.next_below(self.key_space)
        };
        key_name(k)
    }

    async fn exchange(&self, client: &mut RedisClient, request: &[u8]) -> Result<Reply, String> {
        if client.connection.is_none() {
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|_| "connect")?;
            stream.set_nodelay(true).map_err(|_| "connect")?;
            client.connection = Some(BufReader::new(stream));
        }
        let connection = client.connection.as_mut().expect("connected above");
        connection
            .get_mut()
            .write_all(request)
            .await
            .map_err(|_| "transport")?;
        read_reply(connection).await
    }
}

/// `host:port` of a `redis://host:port` URL.
pub fn address_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("redis://")?.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok()).then(|| rest.to_string())
}

impl Workload for RedisWorkload {
    type Client = RedisClient;

    fn client(&self, index: usize) -> RedisClient {
        RedisClient {
            connection: None,
            keys: KeyGen::new(index as u64),
        }
    }

    async fn call(&self, client: &mut RedisClient, n: u64) -> Result<(), String> {
        let key = self.key(client, n);
        let request = match self.op {
            Op::Get => command(&[b"GET", key.as_bytes()]),
            _ => command(&[b"SET", key.as_bytes(), self.value.as_bytes()]),
        };
        let outcome =
            match tokio::time::timeout(self.timeout, self.exchange(client, &request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err("timeout".into()),
            };
        let reply = outcome.inspect_err(|_| {
            // The connection may hold half a reply: start afresh.
            client.connection = None;
        })?;
        match (self.op, reply) {
            (Op::Get, Reply::Bulk(Some(_))) => Ok(()),
            (Op::Get, Reply::Bulk(None)) => Err("404 key_not_found".into()),
            (Op::Put, Reply::Status(status)) if status == "OK" => Ok(()),
            (_, Reply::Error(error)) => {
                let kind = error.split_whitespace().next().unwrap_or("ERR");
                Err(format!("redis {kind}"))
            }
            (_, other) => {
                client.connection = None;
                Err(format!("unexpected reply {other:?}"))
            }
        }
    }
}

/// Waits until the server answers `PING` (a fresh server may still be loading).
pub async fn wait_until_ready(address: &str, timeout: Duration) -> anyhow::Result<()> {
    let probe = RedisWorkload {
        address: address.into(),
        op: Op::Get,
        key_space: 1,
        value: String::new(),
        timeout,
        sequential: true,
    };
    let mut last = String::new();
    for _ in 0..300 {
        let mut client = probe.client(0);
        match probe.exchange(&mut client, &command(&[b"PING"])).await {
            Ok(Reply::Status(pong)) if pong == "PONG" => return Ok(()),
            Ok(other) => last = format!("{other:?}"),
            Err(kind) => last = kind,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("redis at {address} did not answer PING within 30 s (last: {last}); is redis-server running?")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<Reply, String> {
        read_reply(&mut BufReader::new(bytes)).await
    }

    #[tokio::test]
    async fn replies_parse_and_bad_ones_are_errors() {
        assert_eq!(parse(b"+OK\r\n").await, Ok(Reply::Status("OK".into())));
        assert_eq!(parse(b"$-1\r\n").await, Ok(Reply::Bulk(None)));
        assert_eq!(
            parse(b"$3\r\nabc\r\n").await,
            Ok(Reply::Bulk(Some(b"abc".to_vec())))
        );
        assert_eq!(
            parse(b"-ERR wrong\r\n").await,
            Ok(Reply::Error("ERR wrong".into()))
        );
        assert!(parse(b"$3\r\nabcd\r\n").await.is_err());
        assert!(parse(b"$999999999\r\n").await.is_err());
        assert!(parse(b":1\r\n").await.is_err());
        assert!(parse(b"+OK").await.is_err());
        assert!(parse(b"").await.is_err());
    }

    #[test]
    fn commands_and_addresses() {
        assert_eq!(
            command(&[b"SET", b"k", b"vv"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n"
        );
        assert_eq!(
            address_of("redis://127.0.0.1:6379/").as_deref(),
            Some("127.0.0.1:6379")
        );
        assert_eq!(address_of("http://127.0.0.1:6379"), None);
        assert_eq!(address_of("redis://127.0.0.1"), None);
    }
}

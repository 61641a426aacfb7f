//! redis as a single-node ceiling (`skein bench --target redis`): the raft
//! workload's `SET`/`GET` over one RESP connection per client. No
//! replication and, unless redis runs with `appendfsync always`, no fsync
//! per write: an upper bound for one machine, not a peer of a replicated
//! store (`bench/compare.sh` starts it with `appendfsync always`).

use super::raft::key_name;
use super::{KeyGen, Workload};
use crate::bench::args::Op;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest reply line or bulk value read (a bound against a misbehaving server).
const REPLY_BYTES_MAX: usize = 1 << 20;

pub struct RedisWorkload {
    /// `HOST:PORT`.
    pub address: String,
    pub op: Op,
    pub key_space: u64,
    pub value: String,
    pub timeout: Duration,
    pub sequential: bool,
}

pub struct RedisClient {
    connection: Option<BufReader<TcpStream>>,
    keys: KeyGen,
}

impl RedisWorkload {
    /// `redis://HOST:PORT`, `HOST:PORT` or `http://HOST:PORT` (as `--api` gives it).
    pub fn address_of(api: &str) -> String {
        api.trim_start_matches("redis://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }

    pub fn prefill(&self) -> Self {
        Self {
            address: self.address.clone(),
            op: Op::Put,
            key_space: self.key_space,
            value: self.value.clone(),
            timeout: self.timeout,
            sequential: true,
        }
    }
}

/// One command in RESP: an array of bulk strings.
pub fn command(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        out.extend(format!("${}\r\n", part.len()).as_bytes());
        out.extend(*part);
        out.extend(b"\r\n");
    }
    out
}

/// Reads one reply: `Ok(Some(_))` for a value or status, `Ok(None)` for a nil.
async fn reply(connection: &mut BufReader<TcpStream>) -> Result<Option<Vec<u8>>, String> {
    let mut line = Vec::new();
    let read = (&mut *connection)
        .take(REPLY_BYTES_MAX as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| "transport".to_string())?;
    if read == 0 || !line.ends_with(b"\r\n") {
        return Err("transport".into());
    }
    let body = &line[1..line.len() - 2];
    match line[0] {
        b'+' | b':' => Ok(Some(body.to_vec())),
        b'-' => Err(format!(
            "redis {}",
            String::from_utf8_lossy(body)
                .split_whitespace()
                .next()
                .unwrap_or("error")
        )),
        b'$' => {
            let length: i64 = std::str::from_utf8(body)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or("bad_reply")?;
            if length < 0 {
                return Ok(None);
            }
            let length = usize::try_from(length).map_err(|_| "bad_reply")?;
            if length > REPLY_BYTES_MAX {
                return Err("bad_reply".into());
            }
            let mut value = vec![0; length + 2];
            connection
                .read_exact(&mut value)
                .await
                .map_err(|_| "transport".to_string())?;
            value.truncate(length);
            Ok(Some(value))
        }
        _ => Err("bad_reply".into()),
    }
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
        let k = if self.sequential {
            n % self.key_space
        } else {
            client.keys.next_below(self.key_space)
        };
        let key = key_name(k);
        let request = match self.op {
            Op::Get => command(&[b"GET", key.as_bytes()]),
            _ => command(&[b"SET", key.as_bytes(), self.value.as_bytes()]),
        };
        let exchange = async {
            if client.connection.is_none() {
                let stream = TcpStream::connect(&self.address)
                    .await
                    .map_err(|_| "connect".to_string())?;
                let _ = stream.set_nodelay(true);
                client.connection = Some(BufReader::new(stream));
            }
            let connection = client.connection.as_mut().expect("just connected");
            connection
                .get_mut()
                .write_all(&request)
                .await
                .map_err(|_| "transport".to_string())?;
            reply(connection).await
        };
        let answer = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err("timeout".into()),
        };
        match answer {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("404".into()),
            Err(kind) => {
                // The connection may be mid-reply: start a fresh one.
                client.connection = None;
                Err(kind)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        assert_eq!(
            command(&[b"SET", b"k", b"vv"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n".to_vec()
        );
        assert_eq!(
            RedisWorkload::address_of("redis://127.0.0.1:6379/"),
            "127.0.0.1:6379"
        );
    }

    /// A fake server answering a SET, a GET of a value, a nil and an error.
    #[test]
    fn replies_are_read_and_bounded() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap().to_string();
            tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                socket
                    .write_all(b"+OK\r\n$3\r\nabc\r\n$-1\r\n-ERR nope\r\n")
                    .await
                    .unwrap();
                // Keep the connection open until the client is done.
                let mut sink = Vec::new();
                let _ = socket.read_to_end(&mut sink).await;
            });
            let stream = TcpStream::connect(&address).await.unwrap();
            let mut connection = BufReader::new(stream);
            assert_eq!(reply(&mut connection).await, Ok(Some(b"OK".to_vec())));
            assert_eq!(reply(&mut connection).await, Ok(Some(b"abc".to_vec())));
            assert_eq!(reply(&mut connection).await, Ok(None));
            assert_eq!(reply(&mut connection).await, Err("redis ERR".into()));
        });
    }
}

//! The TCP channel on `5000 + id`: length-framed envelopes, one outbound
//! connection per peer that reconnects with capped exponential backoff, and
//! a listener that accepts peers' connections.
//!
//! Each connection starts with a `Hello` frame naming the sender; the
//! listener refuses a connection whose hello names a non-peer, another
//! receiver or another protocol, and any later frame claiming a different
//! sender. With a cluster secret every frame, the hello included, carries a
//! MAC tag checked with the pair key of the sender it names (see
//! `skein_core::mac`), so the peer a connection is bound to is authenticated,
//! and a frame that fails the check closes the connection.
//!
//! Which senders a listener admits: its current peers ([`AcceptedPeers`],
//! changed at run time; a frame from a peer removed since its hello closes
//! the connection) and, only when it authenticates with the cluster secret,
//! any other node too (a *stranger*: a node joining through this one): the
//! frame's tag, checked with `K(me, stranger)` derived from the secret,
//! shows it holds the secret. Its messages reach the core, which decides
//! whether to add it as a peer; until then nothing is sent back to it.
//! Without a secret nothing vouches for a stranger, so only peers are
//! admitted. Frames lost while
//! a connection is down are not resent: protocols
//! that need reliability resend state themselves (documented in the
//! `Channel::Stream` contract).

use crate::auth::SharedKeyring;
use crate::inbound::{Inbound, InboundFrame};
use crate::metrics::NodeMetrics;
use crate::outbox::Outbox;
use rand::{Rng, SeedableRng};
use skein_core::envelope::decode_prefix;
use skein_core::mac::Keyring;
use skein_core::{Channel, Frame, FrameError, FrameKind, NodeId};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// A connection that has not said hello by then is closed.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest frame a connection may send before its hello (whose payload
/// is empty): a stranger cannot make this node buffer a whole
/// `frame_bytes_max` before anything about it was checked.
pub const PRE_HELLO_PAYLOAD_BYTES_MAX: usize = 256;
/// Connections that have not said hello yet, at most; more are closed at
/// once (`skein_peer_rejected_total{reason="unauthenticated_connections"}`).
/// Peers say hello as their first frame, so only floods wait here.
pub const UNAUTHENTICATED_CONNECTIONS_MAX: usize = 64;

/// The peers whose hellos the listener accepts: the static members plus
/// peers the core added, minus those it removed. Shared with the core loop,
/// which changes it; read once per frame.
#[derive(Clone, Debug, Default)]
pub struct AcceptedPeers(Arc<RwLock<BTreeSet<NodeId>>>);

impl AcceptedPeers {
    pub fn new(peers: impl IntoIterator<Item = NodeId>) -> Self {
        Self(Arc::new(RwLock::new(peers.into_iter().collect())))
    }

    pub fn insert(&self, peer: NodeId) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer);
    }

    pub fn remove(&self, peer: NodeId) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&peer);
    }

    pub fn contains(&self, peer: NodeId) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&peer)
    }
}

/// Who this node is on the wire.
#[derive(Clone, Debug)]
pub struct WireIdentity {
    pub id: NodeId,
    pub protocol: u16,
    pub frame_bytes_max: usize,
    /// This node's pair keys; `None` runs the channels unauthenticated.
    pub keys: Option<SharedKeyring>,
}

/// An authenticating node holds no pair key for this peer (e.g. one removed
/// while a frame to it was being made): the frame is not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no pair key for peer {0}")]
pub struct NoPairKey(pub NodeId);

impl WireIdentity {
    /// An encoded frame to `to`, tagged when this node authenticates.
    pub fn frame(
        &self,
        kind: FrameKind,
        to: NodeId,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, NoPairKey> {
        let frame = Frame {
            kind,
            sender: self.id,
            receiver: to,
            protocol: self.protocol,
            payload,
        };
        match self.keys() {
            None => Ok(frame.encode()),
            Some(keys) => Ok(frame.encode_tagged(keys.key(to).ok_or(NoPairKey(to))?)),
        }
    }

    /// The current keyring, if this node authenticates.
    pub fn keys(&self) -> Option<Arc<Keyring>> {
        self.keys.as_ref().map(SharedKeyring::load)
    }
}

/// Accepts peers' connections and forwards their frames to the core.
pub async fn serve(
    listener: TcpListener,
    me: WireIdentity,
    members: AcceptedPeers,
    inbound: mpsc::Sender<Inbound>,
    metrics: NodeMetrics,
    shutdown: CancellationToken,
) {
    let unauthenticated = Arc::new(Semaphore::new(UNAUTHENTICATED_CONNECTIONS_MAX));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((socket, remote)) = accepted else {
            continue;
        };
        let Ok(permit) = unauthenticated.clone().try_acquire_owned() else {
            metrics.rejected("unauthenticated_connections");
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let connection = read_connection(
            socket,
            permit,
            me.clone(),
            members.clone(),
            inbound.clone(),
            metrics.clone(),
        );
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                result = connection => if let Err(reason) = result {
                    tracing::debug!(%remote, reason, "closed inbound stream");
                }
            }
        });
    }
}

/// Reads frames until the peer closes or misbehaves; the error is the reason.
/// `permit`: this connection's place among the unauthenticated ones, given
/// back once its hello is accepted.
async fn read_connection(
    mut socket: TcpStream,
    permit: OwnedSemaphorePermit,
    me: WireIdentity,
    members: AcceptedPeers,
    inbound: mpsc::Sender<Inbound>,
    metrics: NodeMetrics,
) -> Result<(), &'static str> {
    let mut buffer = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let mut peer: Option<NodeId> = None;
    // A stranger's key, derived once for this connection.
    let mut stranger_keys: Option<Arc<Keyring>> = None;
    let hello_deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let mut permit = Some(permit);
    loop {
        // Decode every whole frame already buffered.
        loop {
            // With keys, a decoded frame's sender is authenticated by its tag.
            let keys = me.keys();
            let strangers = keys.as_ref().is_some_and(|k| k.derives());
            let ring = stranger_keys.clone().or(keys);
            let payload_max = if peer.is_none() {
                PRE_HELLO_PAYLOAD_BYTES_MAX.min(me.frame_bytes_max)
            } else {
                me.frame_bytes_max
            };
            let decoded = match decode_prefix(&buffer, payload_max, ring.as_deref()) {
                Err(FrameError::UnknownSender { sender })
                    if strangers && stranger_keys.is_none() =>
                {
                    if let Some(one) = ring.and_then(|r| r.for_peer(sender)) {
                        stranger_keys = Some(Arc::new(one));
                        continue;
                    }
                    Err(FrameError::UnknownSender { sender })
                }
                other => other,
            };
            let decoded = decoded.map_err(|e| {
                metrics.rejected(reject_reason(&e));
                tracing::debug!(error = %e, "refused a stream frame");
                "bad frame"
            })?;
            let Some((frame, used)) = decoded else { break };
            buffer.drain(..used);
            let admits = |id: NodeId| strangers || members.contains(id);
            let from = accept_frame(&frame, &me, admits, &mut peer)
                .inspect_err(|&reason| metrics.rejected(reason))?;
            if peer.is_some() {
                permit.take();
            }
            if let Some(from) = from {
                metrics.received(from, Channel::Stream);
                let item = Inbound::Frame(InboundFrame {
                    from,
                    channel: Channel::Stream,
                    payload: frame.payload,
                });
                inbound.send(item).await.map_err(|_| "node stopping")?;
            }
        }
        let read = if peer.is_none() {
            tokio::time::timeout_at(hello_deadline, socket.read(&mut chunk))
                .await
                .map_err(|_| {
                    metrics.rejected("hello_timeout");
                    "no hello in time"
                })?
        } else {
            socket.read(&mut chunk).await
        };
        match read {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Checks one frame against the connection's state; returns the sender of a
/// protocol message to deliver, or `None` for the hello.
/// `admits`: whether a sender may speak here now (see the module docs).
fn accept_frame(
    frame: &Frame,
    me: &WireIdentity,
    admits: impl Fn(NodeId) -> bool,
    peer: &mut Option<NodeId>,
) -> Result<Option<NodeId>, &'static str> {
    if frame.receiver != me.id {
        return Err("wrong_receiver");
    }
    if frame.protocol != me.protocol {
        return Err("wrong_protocol");
    }
    match (*peer, frame.kind) {
        (None, FrameKind::Hello) if admits(frame.sender) && frame.sender != me.id => {
            *peer = Some(frame.sender);
            Ok(None)
        }
        (None, FrameKind::Hello) => Err("unknown_sender"),
        (None, _) => Err("no_hello"),
        // A peer removed since its hello is no longer heard.
        (Some(p), FrameKind::Message) if p == frame.sender && !admits(p) => Err("unknown_sender"),
        (Some(p), FrameKind::Message) if p == frame.sender => Ok(Some(p)),
        (Some(_), FrameKind::Message) => Err("sender_mismatch"),
        (Some(_), _) => Err("unexpected_kind"),
    }
}

pub fn reject_reason(error: &skein_core::FrameError) -> &'static str {
    use skein_core::FrameError::*;
    match error {
        BadMagic { .. } => "bad_magic",
        UnsupportedVersion { .. } => "bad_version",
        UnknownKind { .. } => "unknown_kind",
        TooLarge { .. } => "oversized",
        ChecksumMismatch { .. } => "bad_checksum",
        LengthMismatch { .. } => "bad_length",
        MissingTag { .. } => "missing_mac",
        UnexpectedTag { .. } => "unexpected_mac",
        UnknownSender { .. } => "unknown_sender",
        BadTag { .. } => "bad_mac",
    }
}

/// Keeps a connection to `peer` open and drains its outbox into it.
pub async fn dial(
    me: WireIdentity,
    peer: NodeId,
    addr: SocketAddr,
    outbox: Arc<Outbox>,
    shutdown: CancellationToken,
) {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut backoff = BACKOFF_MIN;
    loop {
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = TcpStream::connect(addr) => c,
        };
        match connected {
            Ok(mut socket) => {
                let _ = socket.set_nodelay(true);
                backoff = BACKOFF_MIN;
                tracing::debug!(%peer, %addr, "stream connected");
                match me.frame(FrameKind::Hello, peer, Vec::new()) {
                    Ok(hello) => {
                        if socket.write_all(&hello).await.is_ok() {
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = drain(&mut socket, &outbox) => {}
                            }
                        }
                    }
                    // Only while the peer is being removed: the cancel follows.
                    Err(error) => tracing::debug!(%peer, %error, "no hello sent"),
                }
                tracing::debug!(%peer, "stream disconnected; reconnecting");
            }
            Err(error) => tracing::trace!(%peer, %addr, %error, "connect failed"),
        }
        // Jitter keeps a restarted cluster from reconnecting in lockstep.
        let pause = backoff.mul_f64(rng.random_range(0.5..1.0));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn drain(socket: &mut TcpStream, outbox: &Outbox) {
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            frame = outbox.pop() => {
                if socket.write_all(&frame).await.is_err() {
                    return;
                }
            }
            // The peer never writes on this connection: readable means closed.
            _ = socket.read(&mut probe) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> WireIdentity {
        WireIdentity {
            id: NodeId(1),
            protocol: 7,
            frame_bytes_max: 1024,
            keys: None,
        }
    }

    fn frame(kind: FrameKind, sender: u16, receiver: u16, protocol: u16) -> Frame {
        Frame {
            kind,
            sender: NodeId(sender),
            receiver: NodeId(receiver),
            protocol,
            payload: vec![],
        }
    }

    #[test]
    fn a_connection_must_start_with_a_members_hello() {
        let members = AcceptedPeers::new([1, 2, 3].map(NodeId));
        let mut peer = None;
        let mut accept = |kind, sender, receiver, protocol| {
            accept_frame(
                &frame(kind, sender, receiver, protocol),
                &me(),
                |id| members.contains(id),
                &mut peer,
            )
        };
        assert_eq!(accept(FrameKind::Message, 2, 1, 7), Err("no_hello"));
        assert_eq!(accept(FrameKind::Hello, 9, 1, 7), Err("unknown_sender"));
        assert_eq!(accept(FrameKind::Hello, 2, 3, 7), Err("wrong_receiver"));
        assert_eq!(accept(FrameKind::Hello, 2, 1, 8), Err("wrong_protocol"));
        assert_eq!(accept(FrameKind::Hello, 2, 1, 7), Ok(None));
        assert_eq!(accept(FrameKind::Message, 2, 1, 7), Ok(Some(NodeId(2))));
        assert_eq!(accept(FrameKind::Message, 3, 1, 7), Err("sender_mismatch"));
        members.remove(NodeId(2));
        assert_eq!(
            accept(FrameKind::Message, 2, 1, 7),
            Err("unknown_sender"),
            "a peer removed after its hello is no longer heard"
        );
    }
}

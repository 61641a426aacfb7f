//! The UDP channel on `7000 + id`: a self-stabilizing link per peer
//! (`skein_core::sslink`, BFTLIST.md §2.6) over one socket.
//!
//! One task owns the socket and every link's state, so there are no locks.
//! Links are stop-and-wait, so this channel suits low-volume traffic such as
//! failure-detector tokens and heartbeats. When the core's queue is full, a
//! delivered datagram is dropped and counted: the link layer has already
//! acknowledged it, and datagram traffic is by contract lossy.
//!
//! With a cluster secret, data frames and acks alike carry a MAC tag checked
//! with the pair key of the sender they name, so the link a datagram is
//! handed to is the authenticated sender's; a datagram that fails is dropped
//! and counted, and gets no ack. What the link does about replays: within one
//! sender session its counter refuses a replayed frame that is not ahead of
//! the last one delivered (acked, not delivered); but a receiver accepts the
//! first frame of any *new* session (it must, to stabilize from any state),
//! so a recorded frame of another session is delivered again when replayed.
//!
//! The core loop adds and removes links at run time ([`DatagramCommand`]);
//! a removed peer's link and its queued payloads are dropped. Datagrams from
//! a node without a link (outside the peer set) are refused and counted:
//! a joining node introduces itself over the stream channel.

use crate::inbound::{Inbound, InboundFrame};
use crate::metrics::NodeMetrics;
use crate::stream::{reject_reason, WireIdentity};
use skein_core::codec;
use skein_core::sslink::{LinkAck, LinkData, LinkReceiver, LinkSender};
use skein_core::{Channel, Frame, FrameKind, NodeId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Largest payload the datagram channel carries (a UDP datagram holds 65,507
/// bytes; the envelope and link header take the rest).
pub const DATAGRAM_PAYLOAD_BYTES_MAX: usize = 60_000;
pub const LINK_QUEUE_MAX: usize = 64;
pub const RETRANSMIT_AFTER: Duration = Duration::from_millis(200);
const POLL_EVERY: Duration = Duration::from_millis(10);

struct Link {
    addr: SocketAddr,
    sender: LinkSender,
    receiver: LinkReceiver,
}

impl Link {
    fn new(addr: SocketAddr, session: u32) -> Self {
        Self {
            addr,
            sender: LinkSender::new(session, LINK_QUEUE_MAX, RETRANSMIT_AFTER),
            receiver: LinkReceiver::new(),
        }
    }
}

/// What the core loop asks of the datagram task, in order.
#[derive(Debug)]
pub enum DatagramCommand {
    Send {
        to: NodeId,
        payload: Vec<u8>,
    },
    /// Adds a link, or moves a known peer's link to a new address (a fresh
    /// link: the self-stabilizing protocol resynchronizes from any state).
    AddPeer {
        id: NodeId,
        addr: SocketAddr,
    },
    RemovePeer {
        id: NodeId,
    },
}

pub struct DatagramChannel {
    pub socket: UdpSocket,
    pub me: WireIdentity,
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Fresh per process start, so peers' receivers accept this incarnation.
    pub session: u32,
}

impl DatagramChannel {
    pub async fn run(
        self,
        mut outbound: mpsc::Receiver<DatagramCommand>,
        inbound: mpsc::Sender<Inbound>,
        metrics: NodeMetrics,
        shutdown: CancellationToken,
    ) {
        let DatagramChannel {
            socket,
            me,
            peers,
            session,
        } = self;
        let me = &me;
        let mut links: BTreeMap<NodeId, Link> = peers
            .into_iter()
            .map(|(id, addr)| (id, Link::new(addr, session)))
            .collect();
        let started = Instant::now();
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut buffer = vec![0u8; 65_536];
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(command) = outbound.recv() => match command {
                    DatagramCommand::Send { to, payload } => {
                        let Some(link) = links.get_mut(&to) else { continue };
                        if !link.sender.push(payload) {
                            metrics.dropped(to, Channel::Datagram);
                        }
                        if let Some(data) = link.sender.poll(started.elapsed()) {
                            send_data(&socket, me, to, link.addr, &data).await;
                        }
                    }
                    DatagramCommand::AddPeer { id, addr } => {
                        if links.get(&id).is_none_or(|link| link.addr != addr) {
                            links.insert(id, Link::new(addr, session));
                        }
                    }
                    DatagramCommand::RemovePeer { id } => {
                        links.remove(&id);
                    }
                },
                received = socket.recv_from(&mut buffer) => {
                    let Ok((len, _from_addr)) = received else { continue };
                    handle_datagram(&socket, me, &mut links, &buffer[..len], &inbound, &metrics, started.elapsed()).await;
                }
                _ = poll.tick() => {
                    let now = started.elapsed();
                    for (&id, link) in links.iter_mut() {
                        if let Some(data) = link.sender.poll(now) {
                            send_data(&socket, me, id, link.addr, &data).await;
                        }
                    }
                }
            }
        }
    }
}

async fn send_data(
    socket: &UdpSocket,
    me: &WireIdentity,
    to: NodeId,
    addr: SocketAddr,
    data: &LinkData,
) {
    let payload = codec::encode(data, DATAGRAM_PAYLOAD_BYTES_MAX + 64)
        .expect("payload size checked before queueing");
    // Loss is the link's business: a failed send is retransmitted later.
    match me.frame(FrameKind::LinkData, to, payload) {
        Ok(frame) => {
            let _ = socket.send_to(&frame, addr).await;
        }
        Err(error) => tracing::debug!(%error, "datagram not sent"),
    }
}

async fn handle_datagram(
    socket: &UdpSocket,
    me: &WireIdentity,
    links: &mut BTreeMap<NodeId, Link>,
    bytes: &[u8],
    inbound: &mpsc::Sender<Inbound>,
    metrics: &NodeMetrics,
    now: Duration,
) {
    // With keys, the sender of a decoded frame is authenticated by its tag.
    let keys = me.keys();
    let frame = match Frame::decode_datagram(
        bytes,
        me.frame_bytes_max.min(DATAGRAM_PAYLOAD_BYTES_MAX + 64),
        keys.as_deref(),
    ) {
        Ok(frame) => frame,
        Err(error) => return metrics.rejected(reject_reason(&error)),
    };
    if frame.receiver != me.id || frame.protocol != me.protocol {
        return metrics.rejected("wrong_receiver");
    }
    let Some(link) = links.get_mut(&frame.sender) else {
        return metrics.rejected("unknown_sender");
    };
    match frame.kind {
        FrameKind::LinkData => {
            let Ok(data) =
                codec::decode::<LinkData>(&frame.payload, DATAGRAM_PAYLOAD_BYTES_MAX + 64)
            else {
                return metrics.rejected("bad_link_frame");
            };
            let (ack, delivered) = link.receiver.on_data(data);
            let ack_bytes = codec::encode(&ack, 64).expect("an ack is small");
            // The sender's tag verified, so this node holds its key.
            if let Ok(ack) = me.frame(FrameKind::LinkAck, frame.sender, ack_bytes) {
                let _ = socket.send_to(&ack, link.addr).await;
            }
            if let Some(payload) = delivered {
                metrics.received(frame.sender, Channel::Datagram);
                let item = Inbound::Frame(InboundFrame {
                    from: frame.sender,
                    channel: Channel::Datagram,
                    payload,
                });
                if inbound.try_send(item).is_err() {
                    metrics.rejected("core_queue_full");
                }
            }
        }
        FrameKind::LinkAck => {
            let Ok(ack) = codec::decode::<LinkAck>(&frame.payload, 64) else {
                return metrics.rejected("bad_link_frame");
            };
            if let Some(data) = link.sender.on_ack(ack, now) {
                send_data(socket, me, frame.sender, link.addr, &data).await;
            }
        }
        _ => metrics.rejected("unexpected_kind"),
    }
}

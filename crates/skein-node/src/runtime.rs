//! The node runtime: drives one protocol core with real sockets, disk and time.
//!
//! ```text
//!  stream readers ─┐                          ┌─▶ per-peer outboxes ─▶ TCP dialers
//!  datagram task ──┼─▶ inbound queue ─▶ core ─┼─▶ datagram task (UDP links)
//!  storage task ───┤   (bounded)      loop    ├─▶ storage task (WAL + fsync)
//!  REST API ───────┘     ▲ ticks, timers      └─▶ replies to waiting API calls
//! ```
//! The core loop is the only owner of the protocol value, so the protocol
//! needs no locks and sees one input at a time, exactly as in the simulator.
//!
//! The peer set starts as `--peers` and changes when the core emits
//! `AddPeer` / `RemovePeer` (see `peer_set.rs`): each change starts or stops
//! a dialer, a UDP link, the listener's acceptance of the peer's hello, its
//! pair key and its row in the peer table, together.

use crate::api::{self, NodeInfo};
use crate::auth::SharedKeyring;
use crate::config::{ConfigError, NodeSettings};
use crate::datagram::{DatagramChannel, DatagramCommand, DATAGRAM_PAYLOAD_BYTES_MAX};
use crate::inbound::{ApiCommand, Inbound, RequestError, INBOUND_QUEUE_MAX};
use crate::metrics::NodeMetrics;
use crate::peer_set::{Dialer, PeerSet};
use crate::peers::PeerTable;
use crate::service_api::{NodeFacts, PeerDirectory, ServiceApi};
use crate::storage::RecordLog;
use crate::stream::{self, AcceptedPeers, WireIdentity};
use crate::NodeError;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_core::{
    codec, Boot, Channel, Context, Effect, Input, NodeId, Protocol, RequestId, StorageWrite,
    TimerId,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Client requests waiting for a reply at once; more are refused as busy.
pub const PENDING_REQUESTS_MAX: usize = 1024;
const STORAGE_QUEUE_MAX: usize = 1024;
const DATAGRAM_QUEUE_MAX: usize = 1024;

async fn bind_tcp(what: &'static str, addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { what, addr, source })
}

/// Runs node `settings.id` with protocol `P` until `shutdown` is cancelled.
pub async fn run_node<P>(
    settings: NodeSettings,
    shutdown: CancellationToken,
) -> Result<(), NodeError>
where
    P: Protocol + Send,
    P::Status: Send,
{
    run_service::<P>(settings, ServiceApi::none(), shutdown).await
}

/// As [`run_node`], with the service's own REST endpoints.
pub async fn run_service<P>(
    settings: NodeSettings,
    service: ServiceApi,
    shutdown: CancellationToken,
) -> Result<(), NodeError>
where
    P: Protocol + Send,
    P::Status: Send,
{
    let config: P::Config = settings.protocol_config()?;
    let members = settings.members();
    P::validate(&config, &members).map_err(|why| {
        ConfigError::new(
            P::NAME,
            format!("a cluster of {} members", members.len()),
            why,
        )
    })?;
    let metrics = NodeMetrics::new(settings.id, P::NAME);
    let (log, persisted) = RecordLog::open(&settings.data_dir)?;
    if log.truncated_bytes > 0 {
        tracing::warn!(
            bytes = log.truncated_bytes,
            "cut a torn tail off the record log"
        );
    }
    let mut rng = ChaCha8Rng::from_os_rng();
    let started = Instant::now();
    let address = settings.address();
    let protocol = {
        let rng: &mut dyn RngCore = &mut rng;
        P::boot(Boot {
            id: settings.id,
            address: &address,
            members: &members,
            config: &config,
            persisted: &persisted,
            now: started.elapsed(),
            rng,
        })
    };

    // Bind everything first, so a port clash fails fast with a clear error.
    let stream_listener = bind_tcp(
        "stream (TCP) channel",
        (settings.bind, settings.stream_port()).into(),
    )
    .await?;
    let datagram_addr: SocketAddr = (settings.bind, settings.datagram_port()).into();
    let datagram_socket =
        UdpSocket::bind(datagram_addr)
            .await
            .map_err(|source| NodeError::Bind {
                what: "datagram (UDP) channel",
                addr: datagram_addr,
                source,
            })?;
    let api_listener = bind_tcp("REST API", (settings.bind, settings.api_port()).into()).await?;
    let metrics_listener =
        bind_tcp("metrics", (settings.bind, settings.metrics_port()).into()).await?;

    if settings.api_token.is_none() && !settings.bind.is_loopback() {
        tracing::warn!(bind = %settings.bind, "the REST API is reachable from other hosts and takes state-changing requests without a token; set --api-token-file (or SKEIN_API_TOKEN)");
    }
    let keys = match &settings.node_keys {
        Some(own) => Some(own.keyring(settings.id)),
        None => crate::auth::keyring(settings.cluster_secret.as_ref(), settings.id, &members),
    };
    if keys.is_none() {
        tracing::warn!("peer channels are unauthenticated: anyone who reaches the TCP and UDP ports can speak as a member; set --cluster-secret-file (or SKEIN_CLUSTER_SECRET) on every node");
    }
    let me = WireIdentity {
        id: settings.id,
        protocol: P::PROTOCOL_ID,
        frame_bytes_max: settings.frame_bytes_max,
        keys: keys.map(SharedKeyring::new),
    };
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE_MAX);
    let peers = PeerTable::new(
        settings.peers.iter().map(|p| (p.id, p.stream)),
        settings.peer_timeout,
    );

    let accepted = AcceptedPeers::new(members.iter().copied());
    let directory = PeerDirectory::new(settings.peers.iter().cloned());
    tokio::spawn(stream::serve(
        stream_listener,
        me.clone(),
        accepted.clone(),
        inbound_tx.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let mut dialers = BTreeMap::new();
    for peer in &settings.peers {
        let dialer = Dialer::start(&me, peer, settings.send_queue_max, &shutdown);
        dialers.insert(peer.id, dialer);
    }
    let (datagram_tx, datagram_rx) = mpsc::channel(DATAGRAM_QUEUE_MAX);
    let datagram = DatagramChannel {
        socket: datagram_socket,
        me: me.clone(),
        peers: settings.peers.iter().map(|p| (p.id, p.datagram)).collect(),
        session: rng.next_u32(),
    };
    tokio::spawn(datagram.run(
        datagram_rx,
        inbound_tx.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));

    if let Some(dns) = &settings.peers_dns {
        let identity_listener = bind_tcp(
            "peer identity (--peers-dns)",
            (settings.bind, dns.port).into(),
        )
        .await?;
        let me = crate::discovery::identity_of(P::NAME, settings.id, settings.ports);
        tokio::spawn(crate::discovery::serve_identity(
            identity_listener,
            me,
            shutdown.clone(),
        ));
        tokio::spawn(crate::discovery::rediscover(
            dns.clone(),
            P::NAME.to_string(),
            settings.id,
            settings.peers_dns_interval,
            inbound_tx.clone(),
            shutdown.clone(),
        ));
    }

    let (storage_tx, storage_rx) = mpsc::channel(STORAGE_QUEUE_MAX);
    let storage = tokio::task::spawn_blocking({
        let inbound = inbound_tx.clone();
        let metrics = metrics.clone();
        move || run_storage(log, storage_rx, inbound, metrics)
    });

    let partition = crate::partition::Partition::default();
    api::Servers {
        partition: partition.clone(),
        api_listener,
        access: crate::access::AccessPolicy::new(
            settings.api_token.as_deref(),
            settings.api_write_rate,
        ),
        metrics_listener,
        info: NodeInfo::new::<P>(&settings, started),
        peers: peers.clone(),
        core: inbound_tx,
        metrics: metrics.clone(),
        request_timeout: settings.request_timeout,
        service,
        node: NodeFacts {
            id: settings.id,
            members: members.clone(),
            allow_fault_injection: settings.allow_fault_injection,
            api_base: settings.ports.api,
            port_bases: settings.ports,
            peer_hosts: directory.clone(),
            client_auth: match (&settings.node_keys, &settings.cluster_secret) {
                (Some(own), _) => crate::node_keys::ClientAuth::Keys(own.clients.clone()),
                (None, Some(secret)) => crate::node_keys::ClientAuth::Secret(secret.clone()),
                (None, None) => crate::node_keys::ClientAuth::Off,
            },
        },
    }
    .spawn(shutdown.clone());
    tracing::info!(
        id = %settings.id, service = P::NAME, api = settings.api_port(), metrics = settings.metrics_port(),
        stream = settings.stream_port(), datagram = settings.datagram_port(), peers = settings.peers.len(),
        authenticated = me.keys.is_some(), "node started"
    );

    let driver = Driver::<P> {
        id: settings.id,
        protocol,
        rng,
        started,
        peer_set: PeerSet {
            me: me.clone(),
            dialers,
            accepted,
            directory,
            datagram_tx: datagram_tx.clone(),
            table: peers.clone(),
            metrics: metrics.clone(),
            bases: settings.ports,
            send_queue_max: settings.send_queue_max,
            shutdown: shutdown.clone(),
            peers_max: crate::peer_set::PEERS_MAX,
        },
        me,
        datagram_tx,
        storage_tx,
        peers,
        metrics,
        pending: BTreeMap::new(),
        next_request: 0,
        startup_requests: settings.startup_requests.clone(),
        timers: BTreeMap::new(),
        effects: Vec::new(),
        frame_bytes_max: settings.frame_bytes_max,
        partition,
    };
    driver.run(inbound_rx, shutdown).await;
    // The driver dropped its storage sender: the storage task finishes queued writes, then ends.
    let _ = storage.await;
    tracing::info!("node stopped");
    Ok(())
}

/// Writes queued while one fsync runs go out together under the next one.
const GROUP_COMMIT_WRITES_MAX: usize = 256;

fn run_storage(
    mut log: RecordLog,
    mut writes: mpsc::Receiver<(u64, StorageWrite)>,
    inbound: mpsc::Sender<Inbound>,
    metrics: NodeMetrics,
) {
    while let Some(first) = writes.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_WRITES_MAX {
            match writes.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (tokens, batch): (Vec<u64>, Vec<StorageWrite>) = batch.into_iter().unzip();
        let outcome = log.write_batch(&batch);
        for token in tokens {
            let done = match &outcome {
                Ok(_) => Inbound::Persisted { token },
                Err(error) => Inbound::StorageFailed {
                    token,
                    error: error.to_string(),
                },
            };
            if inbound.blocking_send(done).is_err() {
                return;
            }
        }
        match outcome {
            Ok(report) => metrics.wrote(&report),
            Err(error) => tracing::error!(%error, "durable write failed"),
        };
    }
}

struct Driver<P: Protocol> {
    id: NodeId,
    protocol: P,
    rng: ChaCha8Rng,
    started: Instant,
    me: WireIdentity,
    peer_set: PeerSet,
    datagram_tx: mpsc::Sender<DatagramCommand>,
    storage_tx: mpsc::Sender<(u64, StorageWrite)>,
    peers: PeerTable,
    metrics: NodeMetrics,
    pending: BTreeMap<RequestId, oneshot::Sender<Result<serde_json::Value, RequestError>>>,
    next_request: u64,
    startup_requests: Vec<serde_json::Value>,
    timers: BTreeMap<TimerId, tokio::time::Instant>,
    effects: Vec<Effect<P>>,
    frame_bytes_max: usize,
    /// Links cut by fault injection (`PUT /api/v1/fault/partition`).
    partition: crate::partition::Partition,
}

impl<P: Protocol + Send> Driver<P>
where
    P::Status: Send,
{
    async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, shutdown: CancellationToken) {
        self.step(Input::Start).await;
        self.run_startup_requests().await;
        let mut ticks = tokio::time::interval(self.protocol.tick_interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next_timer = self
                .timers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(&t, &at)| (t, at));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {
                    self.housekeeping();
                    self.step(Input::Tick).await;
                }
                _ = sleep_until_some(next_timer.map(|(_, at)| at)) => {
                    let (timer, _) = next_timer.expect("only armed when a timer exists");
                    self.timers.remove(&timer);
                    self.step(Input::Timer(timer)).await;
                }
                item = inbound.recv() => match item {
                    Some(item) => self.handle(item).await,
                    None => break,
                },
            }
        }
        for (_, waiter) in std::mem::take(&mut self.pending) {
            let _ = waiter.send(Err(RequestError::Stopping));
        }
    }

    async fn handle(&mut self, item: Inbound) {
        match item {
            Inbound::Frame(frame) => {
                if self.partition.blocks(frame.from) {
                    self.metrics.partition_dropped("in");
                    return;
                }
                self.peers.heard(frame.from, Instant::now());
                match codec::decode::<P::Message>(&frame.payload, self.frame_bytes_max) {
                    Ok(message) => {
                        self.metrics
                            .received_kind(P::message_kind(&message), frame.payload.len());
                        self.step(Input::Message {
                            from: frame.from,
                            message,
                        })
                        .await
                    }
                    Err(error) => {
                        tracing::debug!(from = %frame.from, %error, "undecodable message");
                        self.metrics.rejected("bad_message");
                    }
                }
            }
            Inbound::Persisted { token } => self.step(Input::Persisted { token }).await,
            Inbound::StorageFailed { token, error } => {
                // Never report a failed write as durable: the protocol keeps waiting.
                tracing::error!(token, error, "write not persisted");
            }
            Inbound::Discovered(peer) => self.discovered(peer).await,
            Inbound::Api(ApiCommand::Status { reply }) => {
                let status =
                    serde_json::to_value(self.protocol.status()).unwrap_or(serde_json::Value::Null);
                let _ = reply.send(status);
            }
            Inbound::Api(ApiCommand::Request { body, reply }) => {
                let request = match serde_json::from_value::<P::Request>(body) {
                    Ok(request) => request,
                    Err(error) => {
                        self.metrics.request("bad_request");
                        let _ = reply.send(Err(RequestError::BadRequest(error.to_string())));
                        return;
                    }
                };
                if self.pending.len() >= PENDING_REQUESTS_MAX {
                    self.metrics.request("busy");
                    let _ = reply.send(Err(RequestError::Busy));
                    return;
                }
                self.next_request += 1;
                let id = RequestId(self.next_request);
                self.pending.insert(id, reply);
                self.step(Input::Request { id, request }).await;
            }
        }
    }

    /// Points a member (or a peer the core added) at where DNS found it; a
    /// node that is neither waits for the protocol to add it.
    async fn discovered(&mut self, peer: crate::address::PeerSpec) {
        if !self.peer_set.accepted.contains(peer.id) {
            tracing::debug!(id = %peer.id, address = %peer.address(), "peers-dns: found a node that is not a member");
            return self.metrics.peer_change("discovered_not_member");
        }
        let known = self.peer_set.dialers.get(&peer.id).map(|d| &d.spec);
        if known != Some(&peer) {
            self.peer_set.add(peer.id, &peer.address()).await;
        }
    }

    /// Feeds the startup requests through the same path as API requests and
    /// logs each reply: the core answers them within the step, before the
    /// node hears anything else.
    async fn run_startup_requests(&mut self) {
        for body in std::mem::take(&mut self.startup_requests) {
            let (reply, mut answer) = oneshot::channel();
            self.handle(Inbound::Api(ApiCommand::Request { body, reply }))
                .await;
            match answer.try_recv() {
                Ok(Ok(reply)) => tracing::info!(%reply, "startup request answered"),
                Ok(Err(error)) => tracing::error!(?error, "startup request refused"),
                Err(_) => tracing::warn!("startup request not answered at start"),
            }
        }
    }

    fn housekeeping(&mut self) {
        // Callers that timed out are gone; forget them so the map stays bounded.
        self.pending.retain(|_, waiter| !waiter.is_closed());
        let now = Instant::now();
        for peer in self.peers.snapshot(now) {
            self.metrics.set_peer_up(NodeId(peer.id), peer.up);
        }
        self.metrics
            .uptime_seconds
            .set(self.started.elapsed().as_secs() as i64);
    }

    async fn step(&mut self, input: Input<P>) {
        let mut effects = std::mem::take(&mut self.effects);
        {
            // The context borrows a `dyn RngCore`, which is not Send: end it before any await.
            let mut ctx =
                Context::new(self.id, self.started.elapsed(), &mut self.rng, &mut effects);
            self.protocol.step(&mut ctx, input);
        }
        for effect in effects.drain(..) {
            self.execute(effect).await;
        }
        self.effects = effects;
    }

    async fn execute(&mut self, effect: Effect<P>) {
        match effect {
            Effect::Send {
                to,
                channel,
                message,
            } => {
                if let Some(payload) = self.encode(&message, channel) {
                    self.metrics
                        .sent_kind(P::message_kind(&message), payload.len(), 1);
                    self.transmit(to, channel, payload);
                }
            }
            Effect::Broadcast { channel, message } => {
                if let Some(payload) = self.encode(&message, channel) {
                    let peers: Vec<NodeId> = self.peer_set.ids().collect();
                    self.metrics
                        .sent_kind(P::message_kind(&message), payload.len(), peers.len());
                    for to in peers {
                        self.transmit(to, channel, payload.clone());
                    }
                }
            }
            Effect::Persist { token, write } => {
                // Waiting here is backpressure from the disk, bounded by the queue.
                let _ = self.storage_tx.send((token, write)).await;
            }
            Effect::Reply { request, reply } => {
                if let Some(waiter) = self.pending.remove(&request) {
                    self.metrics.request("ok");
                    let _ = waiter.send(Ok(
                        serde_json::to_value(reply).unwrap_or(serde_json::Value::Null)
                    ));
                }
            }
            Effect::SetTimer { timer, after } => {
                self.timers
                    .insert(timer, tokio::time::Instant::now() + after);
            }
            Effect::CancelTimer { timer } => {
                self.timers.remove(&timer);
            }
            Effect::AddPeer { id, address } => self.peer_set.add(id, &address).await,
            Effect::RemovePeer { id } => self.peer_set.remove(id).await,
        }
    }

    fn encode(&self, message: &P::Message, channel: Channel) -> Option<Vec<u8>> {
        let max = match channel {
            Channel::Stream => self.frame_bytes_max,
            Channel::Datagram => DATAGRAM_PAYLOAD_BYTES_MAX,
        };
        match codec::encode(message, max) {
            Ok(payload) => Some(payload),
            Err(error) => {
                tracing::warn!(%error, ?channel, "message not sent");
                self.metrics.rejected("outbound_oversized");
                None
            }
        }
    }

    fn transmit(&self, to: NodeId, channel: Channel, payload: Vec<u8>) {
        if self.partition.blocks(to) {
            self.metrics.partition_dropped("out");
            return;
        }
        let Some(outbox) = self.peer_set.outbox(to) else {
            tracing::debug!(%to, "send to a non-peer dropped");
            self.metrics.send_unknown_peer.inc();
            return;
        };
        self.metrics.sent(to, channel);
        match channel {
            Channel::Stream => match self.me.frame(skein_core::FrameKind::Message, to, payload) {
                Ok(frame) => {
                    if !outbox.push(frame) {
                        self.metrics.dropped(to, channel);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "message not sent");
                    self.metrics.dropped(to, channel);
                }
            },
            Channel::Datagram => {
                if self
                    .datagram_tx
                    .try_send(DatagramCommand::Send { to, payload })
                    .is_err()
                {
                    self.metrics.dropped(to, channel);
                }
            }
        }
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

//! Drives one protocol core with a script of hostile inputs read from bytes:
//! the shared body of the libFuzzer targets (`fuzz/`) and of their property
//! tests in each core's `tests/hostile_peer.rs`.
//!
//! A script is what a node could see from the network and its clock: peer
//! messages (raw payload bytes, decoded with the wire [`codec`] exactly as the
//! runtime does, so the message decoder is fuzzed on the way), ticks, timer
//! expiries, client requests and restarts from what the node persisted. The
//! driver acknowledges every write at once and keeps the timers the core set.
//! After every step it asks the caller's `check` whether the core still
//! holds its invariants, and it checks what the core emits: every message it
//! sends must encode, and re-decoding a payload must give the same message.
//!
//! ```text
//! script = seed:u8 op*
//! op     = 0..=2 peer:u8 len:u16le payload   a peer message (most common)
//!        | 3                                 Tick after one tick interval
//!        | 4 which:u8                        the which-th armed timer fires
//!        | 5 len:u16le payload               a client request
//!        | 6                                 restart from persisted records
//!        | 7 ms:u8                           the clock jumps ms × 100 ms, then Tick
//! ```
//! Ops are read modulo 8; a script that ends mid-op just ends. Everything is
//! bounded ([`SCRIPT_STEPS_MAX`], [`PAYLOAD_BYTES_MAX`]) so one run is fast.

use crate::codec::{self, CodecError};
use crate::envelope::{self, Frame, FrameKind, HEADER_BYTES};
use crate::heartbeat::Heartbeat;
use crate::id::{NodeId, RequestId};
use crate::mac::{ClusterSecret, Keyring};
use crate::protocol::{apply_write, Boot, Context, Effect, Input, PeerAddress, Protocol, TimerId};
use crate::sslink::{LinkAck, LinkData, LinkReceiver};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Ops read from one script; the rest is ignored.
pub const SCRIPT_STEPS_MAX: usize = 512;
/// The largest payload a script op carries (the runtime's frame cap is larger,
/// but a fuzzer gains nothing from megabyte payloads but slowness).
pub const PAYLOAD_BYTES_MAX: usize = 16 * 1024;
/// Follow-up inputs (write acknowledgements) fed after one op.
const FOLLOW_UPS_MAX: usize = 256;
/// Restarts per script: each replays every persisted record.
const RESTARTS_MAX: usize = 8;

/// One core under test and who may talk to it.
pub struct Setup<P: Protocol> {
    pub id: NodeId,
    /// Every member, `id` included, ascending.
    pub members: Vec<NodeId>,
    pub config: P::Config,
    /// The senders a script's messages come from (never `id`). For a
    /// Byzantine-tolerant core, at most f of them, so its guarantees apply.
    pub senders: Vec<NodeId>,
    /// Which client requests the runtime would hand the core at all (the
    /// REST layer refuses some before the core sees them).
    pub admits: fn(&P::Request) -> bool,
}

impl<P: Protocol> Setup<P> {
    /// Node 1 of `n` members with the default config; every other member may send.
    pub fn cluster(n: u16) -> Self {
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        Self {
            id: NodeId(1),
            senders: members[1..].to_vec(),
            members,
            config: P::Config::default(),
            admits: |_| true,
        }
    }
}

/// The runtime's address form, so cores that read addresses see real ones.
pub fn address_of(id: NodeId) -> PeerAddress {
    PeerAddress(format!(
        "{}@127.0.0.1:{}:{}",
        id.0,
        5000 + u32::from(id.0),
        7000 + u32::from(id.0)
    ))
}

/// What a script did, so tests can tell a script that exercised the core
/// from one the decoder refused whole.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub steps: usize,
    pub messages_decoded: usize,
    pub messages_refused: usize,
    pub requests_decoded: usize,
    pub restarts: usize,
    pub effects: usize,
}

/// Runs `script` against a fresh core. Panics (the fuzzer's finding) when
/// the core panics, when `check` returns an error, or when what the core
/// emits does not survive the codec.
pub fn run<P: Protocol>(
    setup: &Setup<P>,
    script: &[u8],
    check: &mut dyn FnMut(&P) -> Result<(), String>,
) -> Outcome {
    assert!(!setup.senders.is_empty() && !setup.senders.contains(&setup.id));
    let mut reader = Reader(script);
    let seed = reader.byte().unwrap_or(0);
    let mut driver = Driver::<P>::boot(setup, u64::from(seed), Vec::new());
    let mut outcome = Outcome::default();
    driver.feed(Input::Start, check, &mut outcome);
    while outcome.steps < SCRIPT_STEPS_MAX {
        let Some(op) = reader.byte() else { break };
        outcome.steps += 1;
        let input = match op % 8 {
            0..=2 => {
                let (Some(peer), Some(payload)) = (reader.byte(), reader.chunk()) else {
                    break;
                };
                let from = setup.senders[usize::from(peer) % setup.senders.len()];
                match decode_message::<P>(payload) {
                    Ok(message) => {
                        outcome.messages_decoded += 1;
                        Input::Message { from, message }
                    }
                    Err(_) => {
                        outcome.messages_refused += 1;
                        continue;
                    }
                }
            }
            3 => driver.advance(driver.tick, Input::Tick),
            4 => {
                let Some(which) = reader.byte() else { break };
                match driver.nth_timer(usize::from(which)) {
                    Some((timer, at)) => {
                        driver.timers.remove(&timer);
                        driver.now = driver.now.max(at);
                        Input::Timer(timer)
                    }
                    None => continue,
                }
            }
            5 => {
                let Some(payload) = reader.chunk() else { break };
                let Ok(request) = codec::decode::<P::Request>(payload, PAYLOAD_BYTES_MAX) else {
                    continue;
                };
                if !(setup.admits)(&request) {
                    continue;
                }
                outcome.requests_decoded += 1;
                driver.next_request += 1;
                Input::Request {
                    id: RequestId(driver.next_request),
                    request,
                }
            }
            6 => {
                if outcome.restarts >= RESTARTS_MAX {
                    continue;
                }
                outcome.restarts += 1;
                let records = std::mem::take(&mut driver.records);
                let now = driver.now;
                driver = Driver::boot(setup, u64::from(seed) + outcome.restarts as u64, records);
                driver.now = now;
                Input::Start
            }
            _ => {
                let Some(hundreds) = reader.byte() else { break };
                driver.advance(
                    Duration::from_millis(u64::from(hundreds) * 100),
                    Input::Tick,
                )
            }
        };
        driver.feed(input, check, &mut outcome);
    }
    outcome
}

/// The runtime's decoding of a peer payload, plus the codec's own contract:
/// what decodes re-encodes, and decoding that again changes nothing.
pub fn decode_message<P: Protocol>(payload: &[u8]) -> Result<P::Message, CodecError> {
    let message = codec::decode::<P::Message>(payload, PAYLOAD_BYTES_MAX)?;
    let encoded = codec::encode(&message, usize::MAX).expect("a decoded message re-encodes");
    let again =
        codec::decode::<P::Message>(&encoded, usize::MAX).expect("a re-encoded message decodes");
    assert_eq!(
        codec::encode(&again, usize::MAX).unwrap(),
        encoded,
        "decode then encode is stable"
    );
    Ok(message)
}

/// The heartbeat core under a script: node 1 of three, both peers forged.
/// Whatever they say, it believes only members are up.
pub fn run_heartbeat(script: &[u8]) -> Outcome {
    let setup = Setup::<Heartbeat>::cluster(3);
    let members = setup.members.clone();
    run(&setup, script, &mut |core: &Heartbeat| match core
        .up_peers()
        .into_iter()
        .find(|p| !members.contains(p))
    {
        Some(stranger) => Err(format!("node {stranger} is up but no member")),
        None => Ok(()),
    })
}

/// Frames as a stream reader and a datagram reader see them.
///
/// `data[0]` picks the mode: bit 0 — the reader authenticates (a keyring of
/// node 1 in a cluster of 8); bit 1 — the checksum (and tag) of the frame at
/// the start are made right first, so the fuzzer gets past the CRC to the
/// payload and tag checks. Asserts the decoder's contract: a frame read
/// from a stream re-encodes to exactly the bytes it came from, every
/// shorter prefix of it asks for more bytes rather than failing, and the
/// link layer's payloads decode or fail cleanly.
pub fn run_frames(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret = ClusterSecret::new(vec![7; 32]).expect("32 bytes is long enough");
    let keyring = Keyring::from_secret(&secret, NodeId(1), (1..=8).map(NodeId));
    let keys = (mode & 1 == 1).then_some(&keyring);
    let mut bytes = rest.to_vec();
    if mode & 2 == 2 {
        seal_first_frame(&mut bytes, keys);
    }
    let mut at = 0;
    while let Ok(Some((frame, used))) =
        envelope::decode_prefix(&bytes[at..], PAYLOAD_BYTES_MAX, keys)
    {
        let whole = &bytes[at..at + used];
        let again = match keys {
            Some(k) => frame.encode_tagged(k.key(frame.sender).expect("decoded, so keyed")),
            None => frame.encode(),
        };
        assert_eq!(again, whole, "a decoded frame re-encodes to its bytes");
        for cut in (0..used).step_by(1 + used / 32) {
            assert_eq!(
                envelope::decode_prefix(&whole[..cut], PAYLOAD_BYTES_MAX, keys),
                Ok(None),
                "a prefix of a good frame waits for more bytes"
            );
        }
        match frame.kind {
            FrameKind::LinkData => {
                if let Ok(data) = codec::decode::<LinkData>(&frame.payload, PAYLOAD_BYTES_MAX) {
                    let (ack, delivered) = LinkReceiver::new().on_data(data.clone());
                    assert_eq!(ack.session, data.session);
                    assert!(delivered.is_none_or(|p| p == data.payload));
                }
            }
            FrameKind::LinkAck => {
                let _ = codec::decode::<LinkAck>(&frame.payload, 64);
            }
            FrameKind::Message | FrameKind::Hello => {}
        }
        at += used;
    }
    let _ = Frame::decode_datagram(&bytes, PAYLOAD_BYTES_MAX, keys);
}

/// Rewrites the checksum and tag of the frame `bytes` starts with, if its
/// header parses, so that only the fields the fuzzer chose can be wrong.
fn seal_first_frame(bytes: &mut [u8], keys: Option<&Keyring>) {
    let Ok(Some(header)) = envelope::parse_header(bytes, PAYLOAD_BYTES_MAX) else {
        return;
    };
    let signed = HEADER_BYTES + header.length as usize;
    if bytes.len() < signed {
        return;
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..16]);
    hasher.update(&bytes[HEADER_BYTES..signed]);
    bytes[16..20].copy_from_slice(&hasher.finalize().to_be_bytes());
    let key = keys.and_then(|k| k.key(header.sender));
    if let (Some(key), true) = (key, header.tagged) {
        let tag = key.tag(&bytes[..signed]);
        if let Some(slot) = bytes.get_mut(signed..signed + tag.len()) {
            slot.copy_from_slice(&tag);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    /// A length-prefixed payload, cut short at the end of the script.
    fn chunk(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_le_bytes([self.byte()?, self.byte()?]);
        let len = usize::from(len).min(self.0.len()).min(PAYLOAD_BYTES_MAX);
        let (chunk, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(chunk)
    }
}

/// Writes scripts: how corpus generators turn recorded traffic into seeds.
#[derive(Default)]
pub struct ScriptWriter {
    bytes: Vec<u8>,
}

impl ScriptWriter {
    pub fn new(seed: u8) -> Self {
        Self { bytes: vec![seed] }
    }

    pub fn message(&mut self, sender_index: u8, payload: &[u8]) -> &mut Self {
        self.bytes.extend([0, sender_index]);
        self.chunk(payload)
    }

    pub fn tick(&mut self) -> &mut Self {
        self.bytes.push(3);
        self
    }

    pub fn timer(&mut self, which: u8) -> &mut Self {
        self.bytes.extend([4, which]);
        self
    }

    pub fn request(&mut self, payload: &[u8]) -> &mut Self {
        self.bytes.push(5);
        self.chunk(payload)
    }

    pub fn restart(&mut self) -> &mut Self {
        self.bytes.push(6);
        self
    }

    pub fn jump(&mut self, hundreds_of_ms: u8) -> &mut Self {
        self.bytes.extend([7, hundreds_of_ms]);
        self
    }

    fn chunk(&mut self, payload: &[u8]) -> &mut Self {
        let len = payload.len().min(PAYLOAD_BYTES_MAX);
        self.bytes.extend((len as u16).to_le_bytes());
        self.bytes.extend(&payload[..len]);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Seeds from real traffic: boots every member, runs them in lock step for
/// `rounds` ticks of node `setup.id` (messages delivered at once, writes
/// acknowledged at once, `requests` handed one per round to their nodes
/// from round 5 on), and writes what `setup.id` saw as a script. Node
/// `setup.id` boots from `seed` exactly as [`run`] boots it, so replaying
/// the script repeats its run (as far as `setup.senders` names the real
/// senders). For corpus generators; stops at [`SCRIPT_STEPS_MAX`] ops.
pub fn record_traffic<P: Protocol>(
    setup: &Setup<P>,
    seed: u8,
    rounds: usize,
    requests: &[(NodeId, P::Request)],
) -> Vec<u8> {
    let mut nodes: Vec<Driver<P>> = setup
        .members
        .iter()
        .map(|&id| {
            let node_seed = if id == setup.id {
                u64::from(seed)
            } else {
                0x5eed_0000 + u64::from(id.0)
            };
            let node_setup = Setup::<P> {
                id,
                members: setup.members.clone(),
                config: setup.config.clone(),
                senders: Vec::new(),
                admits: setup.admits,
            };
            Driver::boot(&node_setup, node_seed, Vec::new())
        })
        .collect();
    let me = setup
        .members
        .iter()
        .position(|&id| id == setup.id)
        .expect("the recorded node is a member");
    let step = nodes[me].tick;
    let mut script = ScriptWriter::new(seed);
    let mut ops = 0;
    let mut inbox: Vec<(NodeId, NodeId, P::Message)> = Vec::new();
    let mut outcome = Outcome::default();
    let mut ok = |_: &P| Ok(());
    for node in nodes.iter_mut() {
        let sent = node.feed_collect(Input::Start, &mut ok, &mut outcome);
        route(&setup.members, node.id, sent, &mut inbox);
    }
    let mut requests = requests.iter();
    for round in 0..rounds {
        for (k, node) in nodes.iter_mut().enumerate() {
            node.now += step;
            if k == me {
                script.tick();
                ops += 1;
            }
            let sent = node.feed_collect(Input::Tick, &mut ok, &mut outcome);
            route(&setup.members, node.id, sent, &mut inbox);
            while let Some((which, (timer, _))) = node
                .timers
                .iter()
                .enumerate()
                .find(|(_, (_, &at))| at <= node.now)
                .map(|(i, (&t, &at))| (i, (t, at)))
            {
                node.timers.remove(&timer);
                if k == me {
                    script.timer(which as u8);
                    ops += 1;
                }
                let sent = node.feed_collect(Input::Timer(timer), &mut ok, &mut outcome);
                route(&setup.members, node.id, sent, &mut inbox);
            }
        }
        if round >= 5 {
            if let Some((to, request)) = requests.next() {
                if let Some(k) = setup.members.iter().position(|id| id == to) {
                    if k == me {
                        script.request(
                            &codec::encode(request, PAYLOAD_BYTES_MAX).unwrap_or_default(),
                        );
                        ops += 1;
                    }
                    nodes[k].next_request += 1;
                    let id = RequestId(nodes[k].next_request);
                    let input = Input::Request {
                        id,
                        request: request.clone(),
                    };
                    let sent = nodes[k].feed_collect(input, &mut ok, &mut outcome);
                    route(&setup.members, nodes[k].id, sent, &mut inbox);
                }
            }
        }
        // Deliver until quiet, boundedly: a chatty protocol must not stall the recorder.
        for _ in 0..16 {
            if inbox.is_empty() {
                break;
            }
            for (from, to, message) in std::mem::take(&mut inbox) {
                let Some(k) = setup.members.iter().position(|&id| id == to) else {
                    continue;
                };
                if k == me {
                    let Ok(payload) = codec::encode(&message, PAYLOAD_BYTES_MAX) else {
                        continue;
                    };
                    let sender = setup.senders.iter().position(|&s| s == from).unwrap_or(0);
                    script.message(sender as u8, &payload);
                    ops += 1;
                }
                let sent =
                    nodes[k].feed_collect(Input::Message { from, message }, &mut ok, &mut outcome);
                route(&setup.members, to, sent, &mut inbox);
            }
        }
        if ops >= SCRIPT_STEPS_MAX {
            break;
        }
    }
    script.finish()
}

fn route<M>(
    members: &[NodeId],
    from: NodeId,
    sent: Vec<(Option<NodeId>, M)>,
    inbox: &mut Vec<(NodeId, NodeId, M)>,
) where
    M: Clone,
{
    for (to, message) in sent {
        match to {
            Some(to) => inbox.push((from, to, message)),
            None => {
                for &to in members.iter().filter(|&&id| id != from) {
                    inbox.push((from, to, message.clone()));
                }
            }
        }
    }
}

struct Driver<P: Protocol> {
    core: P,
    id: NodeId,
    now: Duration,
    tick: Duration,
    rng: ChaCha8Rng,
    timers: BTreeMap<TimerId, Duration>,
    records: Vec<Vec<u8>>,
    next_request: u64,
}

impl<P: Protocol> Driver<P> {
    fn boot(setup: &Setup<P>, seed: u64, records: Vec<Vec<u8>>) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let address = address_of(setup.id);
        let core = P::boot(Boot {
            id: setup.id,
            address: &address,
            members: &setup.members,
            config: &setup.config,
            persisted: &records,
            now: Duration::ZERO,
            rng: &mut rng,
        });
        let tick = core.tick_interval();
        Self {
            core,
            id: setup.id,
            now: Duration::ZERO,
            tick,
            rng,
            timers: BTreeMap::new(),
            records,
            next_request: 0,
        }
    }

    fn advance(&mut self, by: Duration, input: Input<P>) -> Input<P> {
        self.now += by;
        input
    }

    fn nth_timer(&self, which: usize) -> Option<(TimerId, Duration)> {
        if self.timers.is_empty() {
            return None;
        }
        let (&timer, &at) = self.timers.iter().nth(which % self.timers.len())?;
        Some((timer, at))
    }

    fn feed(
        &mut self,
        input: Input<P>,
        check: &mut dyn FnMut(&P) -> Result<(), String>,
        outcome: &mut Outcome,
    ) {
        self.feed_collect(input, check, outcome);
    }

    /// Steps the core with `input`, then with the acknowledgements of the
    /// writes it asked for, checking after each step. Returns what it sent
    /// (`None`: to every peer).
    fn feed_collect(
        &mut self,
        input: Input<P>,
        check: &mut dyn FnMut(&P) -> Result<(), String>,
        outcome: &mut Outcome,
    ) -> Vec<(Option<NodeId>, P::Message)> {
        let mut sent = Vec::new();
        let mut pending = vec![input];
        let mut fed = 0;
        while let Some(input) = pending.pop() {
            fed += 1;
            let mut effects = Vec::new();
            let mut ctx = Context::new(self.id, self.now, &mut self.rng, &mut effects);
            self.core.step(&mut ctx, input);
            let _ = self.core.status();
            if let Err(why) = check(&self.core) {
                panic!(
                    "{} invariant broken after step {}: {why}",
                    P::NAME,
                    outcome.steps
                );
            }
            outcome.effects += effects.len();
            for effect in effects {
                match effect {
                    Effect::Send { to, message, .. } => {
                        assert_encodes(&message);
                        sent.push((Some(to), message));
                    }
                    Effect::Broadcast { message, .. } => {
                        assert_encodes(&message);
                        sent.push((None, message));
                    }
                    Effect::Persist { token, write } => {
                        apply_write(&mut self.records, &write);
                        if fed < FOLLOW_UPS_MAX {
                            pending.push(Input::Persisted { token });
                        }
                    }
                    Effect::SetTimer { timer, after } => {
                        self.timers.insert(timer, self.now + after);
                    }
                    Effect::CancelTimer { timer } => {
                        self.timers.remove(&timer);
                    }
                    Effect::Reply { reply, .. } => assert_encodes(&reply),
                    Effect::AddPeer { .. } | Effect::RemovePeer { .. } => {}
                }
            }
        }
        sent
    }
}

fn assert_encodes<T: Serialize>(value: &T) {
    if let Err(e) = codec::encode(value, usize::MAX) {
        panic!("a core emitted something the codec cannot encode: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::{Heartbeat, HeartbeatMessage};

    #[test]
    fn a_written_script_reaches_the_core() {
        let beat = codec::encode(
            &HeartbeatMessage::Beat {
                incarnation: 1,
                seq: 1,
            },
            64,
        )
        .unwrap();
        let mut script = ScriptWriter::new(7);
        script
            .message(0, &beat)
            .tick()
            .message(1, b"\xff\xff")
            .timer(0);
        let setup = Setup::<Heartbeat>::cluster(3);
        let mut seen = Vec::new();
        let outcome = run(&setup, &script.finish(), &mut |core: &Heartbeat| {
            seen.push(core.up_peers());
            Ok(())
        });
        assert_eq!(outcome.messages_decoded, 1);
        assert_eq!(outcome.messages_refused, 1);
        assert!(
            seen.iter().any(|up| up.contains(&NodeId(2))),
            "node 2's beat counts it up: {seen:?}"
        );
    }

    #[test]
    #[should_panic(expected = "invariant broken")]
    fn a_failed_check_is_a_finding() {
        let setup = Setup::<Heartbeat>::cluster(2);
        run(&setup, &[0, 3], &mut |_: &Heartbeat| Err("no".into()));
    }
}

//! The event trace. Every processed event is folded into a 64-bit hash (two
//! runs are identical iff their hashes match, up to collisions) and, when a
//! sink is attached, handed to it as a [`TraceEvent`] (the CLI writes them as
//! JSON lines). Formatting happens only with a sink, so hashing stays cheap.

use serde::Serialize;
use skein_core::NodeId;
use std::fmt::Debug;

/// One line of `--trace FILE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceEvent {
    /// Index of the event in the run.
    pub step: u64,
    pub time_us: u64,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<u16>,
    pub detail: String,
}

/// Receives trace events; the simulator itself never writes anywhere.
pub type TraceSink<'a> = Box<dyn FnMut(&TraceEvent) + 'a>;

const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

pub(crate) struct Tracer<'a> {
    hash: u64,
    sink: Option<TraceSink<'a>>,
    buf: Vec<u8>,
}

impl<'a> Tracer<'a> {
    pub fn new(sink: Option<TraceSink<'a>>) -> Self {
        Self {
            hash: 0xcbf2_9ce4_8422_2325,
            sink,
            buf: Vec::with_capacity(256),
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    fn mix(&mut self, x: u64) {
        self.hash = (self.hash.rotate_left(5) ^ x).wrapping_mul(MULTIPLIER);
    }

    fn mix_bytes(&mut self, bytes: &[u8]) {
        self.mix(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail));
    }

    fn mix_header(
        &mut self,
        step: u64,
        time_us: u64,
        kind: &str,
        node: Option<NodeId>,
        peer: Option<NodeId>,
    ) {
        self.mix(step);
        self.mix(time_us);
        self.mix_bytes(kind.as_bytes());
        self.mix(node.map_or(u64::MAX, |n| u64::from(n.0)));
        self.mix(peer.map_or(u64::MAX, |n| u64::from(n.0)));
    }

    /// Records an event whose payload is a protocol value (hashed by its bytes).
    pub fn record<T: Serialize + Debug>(
        &mut self,
        step: u64,
        time_us: u64,
        kind: &'static str,
        node: Option<NodeId>,
        peer: Option<NodeId>,
        payload: &T,
    ) {
        self.mix_header(step, time_us, kind, node, peer);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // Protocol values always serialize (the wire needs them to); if one
        // ever does not, its absence is still deterministic.
        buf = postcard::to_extend(payload, buf).unwrap_or_default();
        self.mix_bytes(&buf);
        self.buf = buf;
        self.emit(step, time_us, kind, node, peer, || format!("{payload:?}"));
    }

    /// Records an event described only by its `Debug` text (rare events: faults).
    pub fn record_debug<T: Debug>(
        &mut self,
        step: u64,
        time_us: u64,
        kind: &'static str,
        node: Option<NodeId>,
        payload: &T,
    ) {
        self.mix_header(step, time_us, kind, node, None);
        let text = format!("{payload:?}");
        self.mix_bytes(text.as_bytes());
        self.emit(step, time_us, kind, node, None, || text);
    }

    fn emit(
        &mut self,
        step: u64,
        time_us: u64,
        kind: &'static str,
        node: Option<NodeId>,
        peer: Option<NodeId>,
        detail: impl FnOnce() -> String,
    ) {
        if let Some(sink) = self.sink.as_mut() {
            sink(&TraceEvent {
                step,
                time_us,
                kind,
                node: node.map(|n| n.0),
                peer: peer.map(|n| n.0),
                detail: detail(),
            });
        }
    }
}

//! The generic Byzantine behaviours every protocol gets.

use super::{Adversary, AdversaryEnv, Outgoing};
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use skein_core::{Channel, NodeId, Protocol};
use std::collections::{BTreeSet, VecDeque};

/// Messages a replaying adversary remembers; older ones are forgotten first.
pub const REPLAY_LOG_MAX: usize = 64;
/// Random messages a `random` adversary sends per tick, at most.
pub const RANDOM_PER_TICK_MAX: u32 = 3;

/// Sends nothing at all (but keeps listening and running).
pub struct Silent;

impl<P: Protocol> Adversary<P> for Silent {
    fn outgoing(
        &mut self,
        _: &mut dyn RngCore,
        _: &AdversaryEnv<'_>,
        _: NodeId,
        _: Channel,
        _: P::Message,
        _: &mut Outgoing<P::Message>,
    ) {
    }
}

/// Behaves honestly for `k` messages, then falls silent forever.
pub struct CrashAfterK {
    k: u64,
    sent: u64,
}

impl CrashAfterK {
    pub fn new(k: u64) -> Self {
        Self { k, sent: 0 }
    }
}

impl<P: Protocol> Adversary<P> for CrashAfterK {
    fn outgoing(
        &mut self,
        _: &mut dyn RngCore,
        _: &AdversaryEnv<'_>,
        to: NodeId,
        channel: Channel,
        message: P::Message,
        out: &mut Outgoing<P::Message>,
    ) {
        if self.sent < self.k {
            self.sent += 1;
            out.push((to, channel, message));
        }
    }
}

/// Behaves honestly, and on every other tick resends an old message — one it
/// sent or one it heard — to a random peer, as if it were new.
pub struct Replay<P: Protocol> {
    log: VecDeque<(Channel, P::Message)>,
}

impl<P: Protocol> Default for Replay<P> {
    fn default() -> Self {
        Self {
            log: VecDeque::new(),
        }
    }
}

impl<P: Protocol> Replay<P> {
    fn remember(&mut self, channel: Channel, message: P::Message) {
        if self.log.len() == REPLAY_LOG_MAX {
            self.log.pop_front();
        }
        self.log.push_back((channel, message));
    }
}

impl<P: Protocol> Adversary<P> for Replay<P> {
    fn outgoing(
        &mut self,
        _: &mut dyn RngCore,
        _: &AdversaryEnv<'_>,
        to: NodeId,
        channel: Channel,
        message: P::Message,
        out: &mut Outgoing<P::Message>,
    ) {
        self.remember(channel, message.clone());
        out.push((to, channel, message));
    }

    fn incoming(&mut self, _: NodeId, message: &P::Message) {
        self.remember(Channel::Stream, message.clone());
    }

    fn tick(
        &mut self,
        rng: &mut dyn RngCore,
        env: &AdversaryEnv<'_>,
        out: &mut Outgoing<P::Message>,
    ) {
        if self.log.is_empty() || !rng.random_bool(0.5) {
            return;
        }
        let old = rng.random_range(0..self.log.len());
        let (channel, message) = self.log[old].clone();
        if let Some(&to) = env.peers.choose(rng) {
            out.push((to, channel, message));
        }
    }
}

/// Drops what the core sends; instead sends random well-formed messages
/// (`Protocol::arbitrary_message`) each tick. Silent if the protocol offers none.
pub struct RandomMessages;

impl<P: Protocol> Adversary<P> for RandomMessages {
    fn outgoing(
        &mut self,
        _: &mut dyn RngCore,
        _: &AdversaryEnv<'_>,
        _: NodeId,
        _: Channel,
        _: P::Message,
        _: &mut Outgoing<P::Message>,
    ) {
    }

    fn tick(
        &mut self,
        rng: &mut dyn RngCore,
        env: &AdversaryEnv<'_>,
        out: &mut Outgoing<P::Message>,
    ) {
        for _ in 0..rng.random_range(1..=RANDOM_PER_TICK_MAX) {
            let Some(message) = P::arbitrary_message(rng) else {
                return;
            };
            let channel = if rng.random_bool(0.5) {
                Channel::Stream
            } else {
                Channel::Datagram
            };
            if let Some(&to) = env.peers.choose(rng) {
                out.push((to, channel, message));
            }
        }
    }
}

/// Behaves honestly towards a fixed random half of its peers and ignores the
/// rest, so different correct nodes see different histories of it.
#[derive(Default)]
pub struct HalfPeers {
    allowed: Option<BTreeSet<NodeId>>,
}

impl<P: Protocol> Adversary<P> for HalfPeers {
    fn outgoing(
        &mut self,
        rng: &mut dyn RngCore,
        env: &AdversaryEnv<'_>,
        to: NodeId,
        channel: Channel,
        message: P::Message,
        out: &mut Outgoing<P::Message>,
    ) {
        let allowed = self.allowed.get_or_insert_with(|| {
            let half = env.peers.len().div_ceil(2);
            env.peers.choose_multiple(rng, half).copied().collect()
        });
        if allowed.contains(&to) {
            out.push((to, channel, message));
        }
    }
}

//! Byzantine nodes. A Byzantine node runs the honest core, but an
//! [`Adversary`] stands between the core and the network: it sees what the
//! core wants to send and decides what really goes out, and may inject
//! messages of its own on every tick. Protocols register their own
//! behaviours in a [`ByzantineRegistry`] next to the generic ones.
//!
//! Twins is not an adversary: the simulator runs two honest instances with
//! the same id, each connected to a different half of the cluster, which is
//! how equivocation and double votes arise (Bano et al., "Twins", 2020).

mod generic;

pub use generic::{CrashAfterK, HalfPeers, RandomMessages, Replay, Silent};

use crate::SimError;
use rand::RngCore;
use skein_core::{Channel, NodeId, Protocol};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The behaviour name that makes the simulator run two instances of a node.
pub const TWINS: &str = "twins";

/// What an adversary knows when it acts.
pub struct AdversaryEnv<'a> {
    pub id: NodeId,
    /// Every member but this node, ascending.
    pub peers: &'a [NodeId],
    pub now_us: u64,
}

/// Messages an adversary really sends: `(to, channel, message)`.
pub type Outgoing<M> = Vec<(NodeId, Channel, M)>;

pub trait Adversary<P: Protocol> {
    /// Called on every boot of the node, right after its core is built and
    /// before `Start`: a protocol whose Byzantine behaviours live inside its
    /// core (skein-bft's `set_byzantine`) switches them on here.
    fn configure(&mut self, core: &mut P) {
        let _ = core;
    }

    /// The honest core asked to send `message` to `to`; push what goes out instead.
    fn outgoing(
        &mut self,
        rng: &mut dyn RngCore,
        env: &AdversaryEnv<'_>,
        to: NodeId,
        channel: Channel,
        message: P::Message,
        out: &mut Outgoing<P::Message>,
    );

    /// Sees every message delivered to this node (before the core does).
    fn incoming(&mut self, from: NodeId, message: &P::Message) {
        let _ = (from, message);
    }

    /// Called on each of the node's ticks; may inject messages.
    fn tick(
        &mut self,
        rng: &mut dyn RngCore,
        env: &AdversaryEnv<'_>,
        out: &mut Outgoing<P::Message>,
    ) {
        let _ = (rng, env, out);
    }
}

/// `NODE:BEHAVIOUR[=PARAM]`, e.g. `3:silent`, `2:crash-after-k=20`, `5:twins`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByzantineSpec {
    pub node: NodeId,
    pub behaviour: String,
}

impl ByzantineSpec {
    pub fn new(node: u16, behaviour: &str) -> Self {
        Self {
            node: NodeId(node),
            behaviour: behaviour.into(),
        }
    }

    /// The behaviour name without its `=PARAM`.
    pub fn name(&self) -> &str {
        self.behaviour.split('=').next().unwrap_or_default()
    }

    pub fn param(&self) -> Option<&str> {
        self.behaviour.split_once('=').map(|(_, p)| p)
    }
}

impl FromStr for ByzantineSpec {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let (node, behaviour) = s.split_once(':').ok_or_else(|| {
            SimError::Invalid(format!("Byzantine spec `{s}` is not NODE:BEHAVIOUR"))
        })?;
        let node = node
            .trim()
            .parse::<u16>()
            .map_err(|_| SimError::Invalid(format!("`{node}` is not a node id")))?;
        Ok(Self::new(node, behaviour.trim()))
    }
}

impl fmt::Display for ByzantineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.behaviour)
    }
}

/// Builds an adversary from the `PARAM` of its spec.
pub type AdversaryFactory<P> = Box<dyn Fn(Option<&str>) -> Result<Box<dyn Adversary<P>>, SimError>>;

/// Named behaviours available to one protocol.
pub struct ByzantineRegistry<P: Protocol> {
    factories: BTreeMap<String, AdversaryFactory<P>>,
}

impl<P: Protocol> Default for ByzantineRegistry<P> {
    fn default() -> Self {
        Self::generic()
    }
}

impl<P: Protocol> ByzantineRegistry<P> {
    pub fn empty() -> Self {
        Self {
            factories: BTreeMap::new(),
        }
    }

    /// The behaviours every protocol gets (Twins is built into the simulator).
    pub fn generic() -> Self {
        let mut r = Self::empty();
        r.register("silent", Box::new(|_| Ok(Box::new(Silent))));
        r.register(
            "crash-after-k",
            Box::new(|param| {
                let k = match param {
                    None => 10,
                    Some(p) => p.parse().map_err(|_| {
                        SimError::Invalid(format!("crash-after-k={p}: not a count"))
                    })?,
                };
                Ok(Box::new(CrashAfterK::new(k)))
            }),
        );
        r.register("replay", Box::new(|_| Ok(Box::new(Replay::<P>::default()))));
        r.register("random", Box::new(|_| Ok(Box::new(RandomMessages))));
        r.register(
            "half-peers",
            Box::new(|_| Ok(Box::new(HalfPeers::default()))),
        );
        r
    }

    /// Adds (or replaces) a behaviour; protocols call this for their own.
    pub fn register(&mut self, name: &str, factory: AdversaryFactory<P>) {
        self.factories.insert(name.into(), factory);
    }

    /// Every behaviour name, Twins included, ascending.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.factories.keys().cloned().collect();
        names.push(TWINS.into());
        names.sort();
        names
    }

    pub fn create(&self, spec: &ByzantineSpec) -> Result<Box<dyn Adversary<P>>, SimError> {
        let factory = self.factories.get(spec.name()).ok_or_else(|| {
            SimError::UnknownBehaviour(spec.name().into(), self.names().join(", "))
        })?;
        factory(spec.param())
    }

    pub fn has(&self, name: &str) -> bool {
        name == TWINS || self.factories.contains_key(name)
    }
}

//! The membership table: what this node believes about every other one,
//! each belief backed by a signed [`Update`], plus the NodeId → key bindings
//! that stop one node from claiming another's id.
//!
//! ```text
//!  Update ──▶ stale? (precedence ≤ known) ──yes──▶ ignored (no signature check)
//!               │ no
//!               ▼
//!  signer bound & signature ok? ──no──▶ rejected (counted)
//!               │ yes
//!               ▼
//!  limits (members_max, per subnet) ──over──▶ rejected
//!               │
//!               ▼ applied: state, incarnation, queued for dissemination
//! ```

use crate::identity::PublicKey;
use crate::message::{Fact, Update};
use serde::Serialize;
use skein_core::{NodeId, PeerAddress};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl MemberState {
    pub fn of(fact: &Fact) -> Self {
        match fact {
            Fact::Alive { .. } => MemberState::Alive,
            Fact::Suspect => MemberState::Suspect,
            Fact::Dead => MemberState::Dead,
            Fact::Left => MemberState::Left,
        }
    }

    /// Alive or suspect: still probed and still sent to.
    pub fn is_live(self) -> bool {
        matches!(self, MemberState::Alive | MemberState::Suspect)
    }
}

#[derive(Clone, Debug)]
pub struct Member {
    pub state: MemberState,
    pub incarnation: u64,
    /// The subject's latest signed `Alive` (its key, address and version).
    pub alive: Update,
    /// The update that set the current state (relayed in syncs).
    pub latest: Update,
    /// Last direct message from it (this node's clock).
    pub last_heard: Duration,
    /// When the current state began (suspicion and expiry deadlines).
    pub since: Duration,
}

impl Member {
    pub fn address(&self) -> &PeerAddress {
        match &self.alive.fact {
            Fact::Alive { address, .. } => address,
            _ => unreachable!("`alive` always holds an Alive fact"),
        }
    }
    pub fn key(&self) -> PublicKey {
        match &self.alive.fact {
            Fact::Alive { key, .. } => *key,
            _ => unreachable!("`alive` always holds an Alive fact"),
        }
    }
    pub fn beacon(&self) -> bool {
        matches!(self.alive.fact, Fact::Alive { beacon: true, .. })
    }
}

/// Why an update was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Not newer than what we know, or about a node we never saw alive.
    Stale,
    /// Bad signature, or signed by someone not allowed to say it.
    BadSignature,
    /// The id is bound to another key.
    IdentityConflict {
        bound: PublicKey,
        claimed: PublicKey,
    },
    /// Another protocol version.
    Incompatible { version: u16 },
    /// members_max or members_per_subnet_max reached.
    Full(&'static str),
}

impl Rejection {
    pub fn reason(&self, subject: NodeId) -> String {
        match self {
            Rejection::Stale => format!("update about {subject} is stale"),
            Rejection::BadSignature => {
                format!("update about {subject} is not signed by its author")
            }
            Rejection::IdentityConflict { bound, claimed } => format!(
                "id {subject} belongs to key {}, not {}",
                bound.key_id(),
                claimed.key_id()
            ),
            Rejection::Incompatible { version } => format!(
                "{subject} speaks gossip version {version}, this node {}",
                crate::GOSSIP_VERSION
            ),
            Rejection::Full(what) => format!("{subject} refused: {what} reached"),
        }
    }
}

/// What applying an update changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub subject: NodeId,
    pub before: Option<MemberState>,
    pub after: MemberState,
}

pub struct Membership {
    me: NodeId,
    members: BTreeMap<NodeId, Member>,
    bindings: BTreeMap<NodeId, PublicKey>,
    /// Members per subnet, kept beside `members` so the Sybil limit costs
    /// one lookup per admission instead of a scan of the whole table.
    per_subnet: BTreeMap<String, usize>,
    /// Members not `Alive` (suspect, dead, left): the per-tick deadline
    /// scans skip the table while there are none.
    not_alive: usize,
    members_max: usize,
    per_subnet_max: usize,
}

impl Membership {
    pub fn new(me: NodeId, members_max: usize, per_subnet_max: usize) -> Self {
        Self {
            me,
            members: BTreeMap::new(),
            bindings: BTreeMap::new(),
            per_subnet: BTreeMap::new(),
            not_alive: 0,
            members_max,
            per_subnet_max,
        }
    }

    pub fn get(&self, id: NodeId) -> Option<&Member> {
        self.members.get(&id)
    }
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &Member)> {
        self.members.iter().map(|(id, m)| (*id, m))
    }
    pub fn len(&self) -> usize {
        self.members.len()
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    pub fn live(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members
            .iter()
            .filter(|(_, m)| m.state.is_live())
            .map(|(id, _)| *id)
    }
    /// Whether some member is suspect, dead or left (else no deadline runs).
    pub fn any_not_alive(&self) -> bool {
        debug_assert_eq!(
            self.not_alive,
            self.members
                .values()
                .filter(|m| m.state != MemberState::Alive)
                .count()
        );
        self.not_alive > 0
    }
    pub fn bindings(&self) -> &BTreeMap<NodeId, PublicKey> {
        &self.bindings
    }
    /// Restores a binding from storage (this node's own durable records).
    pub fn bind(&mut self, id: NodeId, key: PublicKey) {
        if id != self.me {
            self.bindings.insert(id, key);
            self.trim_bindings();
        }
    }

    /// Restores a member from this node's own snapshot: an `Alive` of
    /// another node, bound to the key it carries. False if it does not fit.
    pub fn restore(&mut self, update: &Update, now: Duration) -> bool {
        let Fact::Alive { key, .. } = &update.fact else {
            return false;
        };
        let conflict = self.bindings.get(&update.subject).is_some_and(|b| b != key);
        if update.subject == self.me
            || conflict
            || self.members.contains_key(&update.subject)
            || self.admit_limits(update).is_err()
        {
            return false;
        }
        self.insert_alive(update, now);
        self.bind(update.subject, *key);
        true
    }

    pub fn heard_from(&mut self, id: NodeId, now: Duration) {
        if let Some(m) = self.members.get_mut(&id) {
            m.last_heard = now;
        }
    }

    /// Checks and applies `update`; `my_key` verifies updates this node signed.
    pub fn apply(
        &mut self,
        update: &Update,
        my_key: &PublicKey,
        now: Duration,
    ) -> Result<Change, Rejection> {
        debug_assert_ne!(
            update.subject, self.me,
            "updates about this node are handled by the caller"
        );
        // A different key for a bound id is refused before anything else, so a
        // forged join is told why rather than taken for a stale repeat.
        if let (Fact::Alive { key, .. }, Some(bound)) =
            (&update.fact, self.bindings.get(&update.subject))
        {
            if key != bound {
                return Err(Rejection::IdentityConflict {
                    bound: *bound,
                    claimed: *key,
                });
            }
        }
        let current = self.members.get(&update.subject);
        if current.is_some_and(|m| update.precedence() <= m.latest.precedence()) {
            return Err(Rejection::Stale);
        }
        let signer = self.signer_key(update, my_key)?;
        if !update.verifies_under(&signer) {
            return Err(Rejection::BadSignature);
        }
        if let Fact::Alive { version, .. } = &update.fact {
            if !crate::compatible(*version) {
                return Err(Rejection::Incompatible { version: *version });
            }
        }
        let before = current.map(|m| m.state);
        match (&update.fact, self.members.get_mut(&update.subject)) {
            (Fact::Alive { .. }, None) => {
                self.admit_limits(update)?;
                self.insert_alive(update, now);
                self.bind(update.subject, signer);
            }
            (_, None) => return Err(Rejection::Stale),
            (fact, Some(m)) => {
                if matches!(fact, Fact::Alive { .. }) {
                    let moved = (subnet_of(m.address()), subnet_of(update_address(update)));
                    m.alive = update.clone();
                    if moved.0 != moved.1 {
                        count_down(&mut self.per_subnet, &moved.0);
                        *self.per_subnet.entry(moved.1).or_default() += 1;
                    }
                }
                let after = MemberState::of(fact);
                if after != m.state {
                    m.since = now;
                }
                match (m.state == MemberState::Alive, after == MemberState::Alive) {
                    (true, false) => self.not_alive += 1,
                    (false, true) => self.not_alive -= 1,
                    _ => {}
                }
                m.state = after;
                m.incarnation = update.incarnation;
                m.latest = update.clone();
            }
        }
        Ok(Change {
            subject: update.subject,
            before,
            after: MemberState::of(&update.fact),
        })
    }

    /// The key whose signature `update` needs, if that signer may say it.
    pub fn signer_key(&self, update: &Update, my_key: &PublicKey) -> Result<PublicKey, Rejection> {
        let bound = |id: NodeId| {
            if id == self.me {
                Some(*my_key)
            } else {
                self.bindings.get(&id).copied()
            }
        };
        match &update.fact {
            Fact::Alive { key, .. } => {
                if update.reporter != update.subject {
                    return Err(Rejection::BadSignature);
                }
                match bound(update.subject) {
                    Some(b) if b != *key => Err(Rejection::IdentityConflict {
                        bound: b,
                        claimed: *key,
                    }),
                    _ => Ok(*key),
                }
            }
            Fact::Left if update.reporter != update.subject => Err(Rejection::BadSignature),
            _ => bound(update.reporter).ok_or(Rejection::Stale),
        }
    }

    fn admit_limits(&self, update: &Update) -> Result<(), Rejection> {
        if self.members.len() >= self.members_max {
            return Err(Rejection::Full("members_max"));
        }
        if let Fact::Alive { address, .. } = &update.fact {
            let same = self.per_subnet.get(&subnet_of(address)).copied();
            if same.unwrap_or(0) >= self.per_subnet_max {
                return Err(Rejection::Full("members_per_subnet_max"));
            }
        }
        Ok(())
    }

    /// Forgets members dead or departed for longer than `expiry`; returns them.
    /// Their key bindings stay, so the id stays theirs.
    pub fn expire(&mut self, now: Duration, expiry: Duration) -> Vec<NodeId> {
        if self.not_alive == 0 {
            return Vec::new();
        }
        let gone: Vec<NodeId> = self
            .members
            .iter()
            .filter(|(_, m)| !m.state.is_live() && now.saturating_sub(m.since) >= expiry)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            if let Some(m) = self.members.remove(id) {
                count_down(&mut self.per_subnet, &subnet_of(m.address()));
                self.not_alive -= 1; // only members not live expire
            }
        }
        gone
    }

    fn insert_alive(&mut self, update: &Update, now: Duration) {
        let member = Member {
            state: MemberState::Alive,
            incarnation: update.incarnation,
            alive: update.clone(),
            latest: update.clone(),
            last_heard: now,
            since: now,
        };
        *self
            .per_subnet
            .entry(subnet_of(member.address()))
            .or_default() += 1;
        let before = self.members.insert(update.subject, member);
        assert!(before.is_none(), "a member is inserted once");
        debug_assert_eq!(
            self.per_subnet.values().sum::<usize>(),
            self.members.len(),
            "the subnet counts cover every member once"
        );
    }

    /// Bindings are bounded too: past twice `members_max`, forget bindings of
    /// ids no longer in the table, lowest id first.
    fn trim_bindings(&mut self) {
        let max = self.members_max.saturating_mul(2);
        while self.bindings.len() > max {
            let Some(victim) = self
                .bindings
                .keys()
                .find(|id| !self.members.contains_key(id))
                .copied()
            else {
                break;
            };
            self.bindings.remove(&victim);
        }
    }

    pub fn bindings_max(&self) -> usize {
        self.members_max.saturating_mul(2)
    }
}

fn update_address(update: &Update) -> &PeerAddress {
    match &update.fact {
        Fact::Alive { address, .. } => address,
        _ => unreachable!("called on Alive updates only"),
    }
}

fn count_down(per_subnet: &mut BTreeMap<String, usize>, subnet: &str) {
    if let Some(count) = per_subnet.get_mut(subnet) {
        *count -= 1;
        if *count == 0 {
            per_subnet.remove(subnet);
        }
    }
}

/// The network a peer address sits in, for the per-subnet Sybil limit: an
/// IPv4 /24 or an IPv6 /64. Protocols otherwise treat addresses as opaque;
/// this reads one only to group, never to dial. An address of another form
/// (the simulator's `sim:ID`) is its own group.
pub fn subnet_of(address: &PeerAddress) -> String {
    let text = address.0.as_str();
    let host = text.split_once('@').map_or(text, |(_, rest)| rest);
    if let Some(v6) = host.strip_prefix('[') {
        let inner = v6.split(']').next().unwrap_or_default();
        let groups: Vec<&str> = inner.split(':').take(4).collect();
        return format!("v6:{}", groups.join(":"));
    }
    let ip = host.split(':').next().unwrap_or_default();
    let octets: Vec<&str> = ip.split('.').collect();
    if octets.len() == 4 && octets.iter().all(|o| o.parse::<u8>().is_ok()) {
        return format!("v4:{}.{}.{}", octets[0], octets[1], octets[2]);
    }
    format!("other:{text}")
}

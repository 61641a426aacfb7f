//! [EXT] Log deltas (§8, issue 4): a Rep message carries only the log
//! entries its receiver does not hold yet, plus a bounded digest of the
//! sender's whole log, so the receiver can rebuild the sender's log from its
//! cached copy and check the result before storing it.
//!
//! The receiver says in each of its own Rep messages what it holds of the
//! sender's log ([`LogHead`]: seq and chain value of the last entry of its
//! cached copy). The sender sends the entries after that point when its own
//! log passes through it, and the whole log otherwise. The acknowledgement
//! only chooses how much is sent: whatever it says, the receiver stores a
//! rebuilt log only when it matches the digest that came with it.

use super::structure::LogEntry;
use crate::hash::GENESIS;
use crate::types::Op;
use serde::{Deserialize, Serialize};

/// The last entry of a log someone holds: where a delta may start after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    pub seq: i64,
    pub chain: u64,
}

/// The head of a log, None when it is empty.
pub fn head_of(log: &[LogEntry]) -> Option<LogHead> {
    log.last().map(|e| LogHead {
        seq: e.req.seq,
        chain: e.chain,
    })
}

/// A bounded-size digest of a whole (bounded) log: its length and a hash of
/// every entry's request, machine digest and chain value, and of the last
/// entry's xset, so a rebuilt copy that differs in any of them — a corrupted
/// cached entry, a missing or extra entry — fails. The xsets of older
/// entries are left out: each replica records its own xset when it
/// executes, so a replica that adopts another's log (catch-up) changes them
/// without changing its history, and of a peer's log only the last xset is
/// read (`last_common_exec`); a whole log every R ticks replaces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogDigest {
    pub len: u32,
    pub hash: u64,
}

impl LogDigest {
    pub fn of(log: &[LogEntry]) -> Self {
        let entries = log.iter().fold(GENESIS, entry_hash);
        let last_xset = log.last().map_or(0, |e| {
            e.xset
                .iter()
                .fold(e.xset.len() as u64, |a, &k| mix(a, k as u64))
        });
        LogDigest {
            len: u32::try_from(log.len()).unwrap_or(u32::MAX),
            hash: mix(entries, last_xset),
        }
    }
}

/// Word-wise mixing, several times cheaper than the byte-wise chain hash:
/// the receiver hashes its whole rebuilt log on every Rep message.
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(23) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn entry_hash(h: u64, e: &LogEntry) -> u64 {
    let c = &e.req.creq;
    let (tag, value) = match c.op {
        Op::Append(x) => (1, x as u64),
        Op::NoOp => (2, 0),
        Op::Remove(x) => (3, x as u64),
        Op::Read => (4, 0),
    };
    [
        u64::from(c.client),
        c.ts,
        tag,
        value,
        e.req.view as u64,
        e.req.seq as u64,
        e.digest,
        e.chain,
    ]
    .into_iter()
    .fold(h, mix)
}

/// The entries of `log` a receiver holding `holds` may lack: from that
/// entry on when `log` passes through `holds`, else the whole log. The held
/// entry itself goes again, so the rebuilt log always ends with the
/// sender's own last entry (its xset may have changed, see [`LogDigest`]).
pub fn delta_for(log: &[LogEntry], holds: Option<LogHead>) -> &[LogEntry] {
    let Some(h) = holds else {
        return log;
    };
    let Some(first) = log.first() else {
        return log;
    };
    let Ok(i) = usize::try_from(h.seq.wrapping_sub(first.req.seq)) else {
        return log;
    };
    match log.get(i) {
        Some(e) if e.req.seq == h.seq && e.chain == h.chain => &log[i..],
        _ => log,
    }
}

/// Rebuilds the sender's log from the cached copy and a delta, or None when
/// the result does not match `digest` (then the cached copy cannot be
/// trusted and the sender must send its whole log). The delta itself was
/// checked well formed by validation; here its first entry must link to the
/// cached entry before it, and the whole result must match the digest.
pub fn splice(
    mut cached: Vec<LogEntry>,
    delta: Vec<LogEntry>,
    digest: LogDigest,
) -> Option<Vec<LogEntry>> {
    let len = usize::try_from(digest.len).ok()?;
    if delta.len() > len {
        return None;
    }
    let keep = len - delta.len();
    let start = match delta.first() {
        Some(d) => d.req.seq,
        None => cached.last().map_or(0, |e| e.req.seq.saturating_add(1)),
    };
    // Keep the `keep` cached entries just before `start`, in place (no
    // copy of the up to 3σK entries on every message).
    let end = cached.partition_point(|e| e.req.seq < start);
    let from = end.checked_sub(keep)?;
    cached.truncate(end);
    cached.drain(..from);
    if let (Some(prev), Some(d)) = (cached.last(), delta.first()) {
        let linked = prev.req.seq.checked_add(1) == Some(d.req.seq)
            && d.chain == crate::hash::chain(prev.chain, &d.req, d.digest);
        if !linked {
            return None;
        }
    }
    cached.extend(delta);
    (LogDigest::of(&cached) == digest).then_some(cached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash;
    use crate::types::{ClientRequest, Request};
    use std::collections::BTreeSet;

    fn log(from: i64, to: i64) -> Vec<LogEntry> {
        let mut out: Vec<LogEntry> = Vec::new();
        let mut chain = GENESIS;
        for seq in 0..=to {
            let req = Request {
                creq: ClientRequest {
                    client: 0,
                    ts: seq as u64 + 1,
                    op: Op::Append(seq),
                },
                view: 0,
                seq,
            };
            let digest = seq as u64 * 7;
            chain = hash::chain(chain, &req, digest);
            out.push(LogEntry {
                req,
                xset: BTreeSet::from([0, 1, 2, 3]),
                digest,
                chain,
            });
        }
        out.retain(|e| e.req.seq >= from);
        out
    }

    #[test]
    fn a_delta_after_the_acknowledged_head_rebuilds_the_log() {
        let cached = log(0, 9);
        let now = log(3, 14);
        let d = delta_for(&now, head_of(&cached));
        assert_eq!(d.len(), 6, "only seqs 9..=14 travel");
        assert_eq!(
            splice(cached.to_vec(), d.to_vec(), LogDigest::of(&now)),
            Some(now.clone())
        );
        // A receiver whose copy moved on since its acknowledgement.
        let newer = log(0, 12);
        assert_eq!(
            splice(newer.to_vec(), d.to_vec(), LogDigest::of(&now)),
            Some(now.clone())
        );
        // The receiver is up to date, the sender trimmed: the last entry.
        let d = delta_for(&now, head_of(&now));
        assert_eq!(d.len(), 1);
        assert_eq!(
            splice(log(0, 14), d.to_vec(), LogDigest::of(&now)),
            Some(now)
        );
    }

    #[test]
    fn an_unknown_or_foreign_head_gets_the_whole_log() {
        let now = log(0, 9);
        assert_eq!(delta_for(&now, None).len(), 10);
        let foreign = LogHead { seq: 5, chain: 1 };
        assert_eq!(delta_for(&now, Some(foreign)).len(), 10);
        let ahead = LogHead {
            seq: 50,
            chain: now[9].chain,
        };
        assert_eq!(delta_for(&now, Some(ahead)).len(), 10);
        let behind = LogHead { seq: -7, chain: 0 };
        assert_eq!(delta_for(&now, Some(behind)).len(), 10);
        // The whole log rebuilds whatever the cache holds.
        assert_eq!(
            splice(log(0, 3), now.clone(), LogDigest::of(&now)),
            Some(now.clone())
        );
    }

    #[test]
    fn a_corrupted_cache_or_a_lying_digest_is_refused() {
        let cached = log(0, 9);
        let now = log(0, 12);
        let d = delta_for(&now, head_of(&cached)).to_vec();
        let digest = LogDigest::of(&now);
        let mut bad = cached.clone();
        bad[4].chain ^= 1;
        assert_eq!(
            splice(bad.to_vec(), d.to_vec(), digest),
            None,
            "corrupted chain value"
        );
        let mut changed = now.clone();
        changed[12].xset.remove(&0);
        assert_eq!(
            splice(cached.to_vec(), d.to_vec(), LogDigest::of(&changed)),
            None,
            "last xset"
        );
        let mut bad = cached.clone();
        bad[2].req.creq.op = Op::Append(99);
        assert_eq!(
            splice(bad.to_vec(), d.to_vec(), digest),
            None,
            "corrupted request"
        );
        assert_eq!(
            splice(cached[..8].to_vec(), d.to_vec(), digest),
            None,
            "missing entries"
        );
        let lie = LogDigest {
            len: 13,
            hash: digest.hash ^ 1,
        };
        assert_eq!(splice(cached.to_vec(), d.to_vec(), lie), None, "lying hash");
        let huge = LogDigest {
            len: u32::MAX,
            hash: 0,
        };
        assert_eq!(
            splice(cached.to_vec(), d.to_vec(), huge),
            None,
            "lying length"
        );
        // A delta that does not link to the cached entry before it.
        let mut unlinked = d.clone();
        unlinked.remove(0);
        let claimed = LogDigest { len: 12, ..digest };
        assert_eq!(splice(cached.to_vec(), unlinked.to_vec(), claimed), None);
    }
}

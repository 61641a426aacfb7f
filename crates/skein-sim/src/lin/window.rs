//! Shrinking a non-linearizable history to a small window that still fails.
//!
//! Every step keeps the history *no stricter* than before, so the shrunk
//! history failing still proves the original fails:
//! 1. cut at the earliest completion time T at which the prefix already
//!    fails (a prefix of a linearizable history is linearizable; operations
//!    still running at T become unknown) — found by binary search;
//! 2. drop read-only operations, and turn the others' known outcomes into
//!    unknown ones, in chunks of halving size as in delta debugging,
//!    keeping each change that still fails.
//!
//! What remains known is the set of outcomes that contradict each other.

use super::checker::{search, CheckLimits, Search};
use super::{Model, Operation};

type Ops<M> = Vec<Operation<<M as Model>::Input, <M as Model>::Output>>;

fn fails<M: Model>(model: &M, ops: &Ops<M>, limits: CheckLimits, budget: &mut u32) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let limits = CheckLimits {
        search_steps_max: limits.shrink_search_steps_max,
        ..limits
    };
    search(model, ops, limits) == Search::NotLinearizable
}

/// The history as seen at time `t`.
fn prefix<M: Model>(ops: &Ops<M>, t: u64) -> Ops<M> {
    ops.iter()
        .filter(|o| o.invoke_us <= t)
        .map(|o| match o.complete_us {
            Some(done) if done <= t => o.clone(),
            _ => Operation {
                output: None,
                complete_us: None,
                ..o.clone()
            },
        })
        .collect()
}

pub(crate) fn shrink<M: Model>(model: &M, ops: Ops<M>, limits: CheckLimits) -> Ops<M> {
    let mut budget = limits.shrink_checks_max;
    let mut ends: Vec<u64> = ops.iter().filter_map(|o| o.complete_us).collect();
    ends.sort_unstable();
    ends.dedup();
    // Invariant: the prefix at ends[hi] fails (the last completion covers every known op).
    let (mut lo, mut hi) = (0usize, ends.len().saturating_sub(1));
    let mut current = ops;
    if !ends.is_empty() {
        while lo < hi {
            let mid = (lo + hi) / 2;
            if fails(
                model,
                &prefix::<M>(&current, ends[mid]),
                limits,
                &mut budget,
            ) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let cut = prefix::<M>(&current, ends[hi]);
        if fails(model, &cut, limits, &mut budget) {
            current = cut;
        }
    }
    // ddmin-style: relax chunks of halving size, keeping each relaxation that still fails.
    let mut size = current.len().div_ceil(2).max(1);
    loop {
        let mut start = 0;
        while start < current.len() && budget > 0 {
            let end = (start + size).min(current.len());
            if let Some(candidate) = relax::<M>(model, &current, start..end) {
                if fails(model, &candidate, limits, &mut budget) {
                    current = candidate;
                }
            }
            start = end;
        }
        if size == 1 || budget == 0 {
            return current;
        }
        size = size.div_ceil(2);
    }
}

/// Drops the read-only operations in `range` and makes the others' outcomes
/// unknown; `None` if that changes nothing.
fn relax<M: Model>(model: &M, ops: &Ops<M>, range: std::ops::Range<usize>) -> Option<Ops<M>> {
    let mut changed = false;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        if !range.contains(&i) {
            out.push(op.clone());
        } else if model.is_read_only(&op.input) {
            changed = true;
        } else if op.is_known() {
            changed = true;
            out.push(Operation {
                output: None,
                complete_us: None,
                ..op.clone()
            });
        } else {
            out.push(op.clone());
        }
    }
    changed.then_some(out)
}

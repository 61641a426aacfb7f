//! Wing & Gong's linearizability search with Lowe's memoization, arranged as
//! in Porcupine (Athalye, 2017): the history is a doubly linked list of call
//! and return entries ordered by time. The search walks the list, tries to
//! linearize each call it meets (apply it to the model, remove its entries,
//! restart from the head), and backtracks when it meets a return whose call
//! is not yet linearized. A cache of (linearized set, state) pairs already
//! explored prunes the search. Unknown operations have no return entry, so
//! the search may leave them out; it succeeds once every *known* operation
//! is linearized.
//!
//! One more pruning rule: linearizing a read-only operation whose output
//! matches the current state is a *dominant* move — any linearization from
//! here can be rearranged to start with it (everything that must precede it
//! is already linearized, else the walk would have hit that return first,
//! and it changes no state). So when the subtree under such a move fails,
//! the node itself has failed and the search backtracks one level further.

use super::window::shrink;
use super::{Model, Operation};
use std::collections::{BTreeMap, HashSet};

const NIL: u32 = u32::MAX;

type OpOf<M> = Operation<<M as Model>::Input, <M as Model>::Output>;

/// Bounds on the search, so one pathological history cannot hang a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckLimits {
    /// Search steps per partition before giving up as inconclusive.
    pub search_steps_max: u64,
    /// Memoized (set, state) pairs per partition.
    pub cache_entries_max: usize,
    /// Re-checks spent shrinking a counterexample.
    pub shrink_checks_max: u32,
    /// Search steps per re-check while shrinking (an exhausted one keeps the op).
    pub shrink_search_steps_max: u64,
}

impl Default for CheckLimits {
    fn default() -> Self {
        Self {
            search_steps_max: 20_000_000,
            cache_entries_max: 2_000_000,
            shrink_checks_max: 400,
            shrink_search_steps_max: 500_000,
        }
    }
}

/// A small failing piece of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    pub partition: u64,
    /// The operations whose outcomes cannot all be right, one line each,
    /// in invocation order. Those ending in `-> ?` may or may not have
    /// taken effect (unknown outcomes, or outcomes set aside while shrinking).
    pub ops: Vec<String>,
    /// Earlier operations kept only as "maybe happened" context.
    pub context_ops: usize,
    pub start_us: u64,
    pub end_us: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinVerdict {
    Linearizable { ops: usize, partitions: usize },
    NotLinearizable(Counterexample),
    Inconclusive(String),
}

impl LinVerdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, LinVerdict::Linearizable { .. })
    }
}

/// Checks a whole history, partition by partition.
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    limits: CheckLimits,
) -> LinVerdict {
    let mut parts: BTreeMap<u64, Vec<OpOf<M>>> = BTreeMap::new();
    for op in ops {
        parts
            .entry(model.partition(&op.input))
            .or_default()
            .push(op.clone());
    }
    let partitions = parts.len();
    let mut inconclusive = None;
    for (key, part) in parts {
        match search(model, &part, limits) {
            Search::Linearizable => {}
            Search::Exhausted => inconclusive = Some(key),
            Search::NotLinearizable => {
                let window = shrink(model, part, limits);
                return LinVerdict::NotLinearizable(describe(key, &window));
            }
        }
    }
    match inconclusive {
        Some(key) => LinVerdict::Inconclusive(format!(
            "search budget exhausted on partition {key}; raise CheckLimits"
        )),
        None => LinVerdict::Linearizable {
            ops: ops.len(),
            partitions,
        },
    }
}

fn describe<I: std::fmt::Debug, O: std::fmt::Debug>(
    partition: u64,
    window: &[Operation<I, O>],
) -> Counterexample {
    let known: Vec<&Operation<I, O>> = window.iter().filter(|o| o.is_known()).collect();
    let start_us = known.iter().map(|o| o.invoke_us).min().unwrap_or(0);
    let end_us = known
        .iter()
        .filter_map(|o| o.complete_us)
        .max()
        .unwrap_or(0);
    // Unknown operations that overlap the window are shown; earlier ones are counted.
    let mut shown: Vec<&Operation<I, O>> = window
        .iter()
        .filter(|o| o.is_known() || o.invoke_us >= start_us)
        .collect();
    shown.sort_by_key(|o| (o.invoke_us, o.client));
    Counterexample {
        partition,
        ops: shown.iter().map(|o| o.describe()).collect(),
        context_ops: window.len() - shown.len(),
        start_us,
        end_us,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Search {
    Linearizable,
    NotLinearizable,
    Exhausted,
}

#[derive(Clone, Copy)]
struct Entry {
    op: u32,
    call: bool,
    prev: u32,
    next: u32,
    /// The return entry of a call, NIL for unknown operations.
    mate: u32,
}

fn unlink(list: &mut [Entry], x: u32) {
    let Entry { prev, next, .. } = list[x as usize];
    list[prev as usize].next = next;
    if next != NIL {
        list[next as usize].prev = prev;
    }
}

fn relink(list: &mut [Entry], x: u32) {
    let Entry { prev, next, .. } = list[x as usize];
    list[prev as usize].next = x;
    if next != NIL {
        list[next as usize].prev = x;
    }
}

/// Entry 0 is the head sentinel; the rest are calls and returns in time
/// order, calls before returns at equal times (such operations overlap).
fn build<I, O>(ops: &[Operation<I, O>]) -> Vec<Entry> {
    let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * ops.len());
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke_us, false, i as u32));
        if let Some(done) = op.complete_us {
            events.push((done, true, i as u32));
        }
    }
    events.sort_unstable();
    let len = events.len() as u32;
    let mut list = Vec::with_capacity(events.len() + 1);
    list.push(Entry {
        op: NIL,
        call: false,
        prev: NIL,
        next: if len > 0 { 1 } else { NIL },
        mate: NIL,
    });
    let mut call_at = vec![NIL; ops.len()];
    for (k, &(_, is_return, op)) in events.iter().enumerate() {
        let idx = k as u32 + 1;
        list.push(Entry {
            op,
            call: !is_return,
            prev: idx - 1,
            next: if idx < len { idx + 1 } else { NIL },
            mate: NIL,
        });
        if is_return {
            list[call_at[op as usize] as usize].mate = idx;
        } else {
            call_at[op as usize] = idx;
        }
    }
    list
}

/// Leaves out unknown operations that cannot matter: reads, and writes no
/// known output could have observed.
fn prune_unobserved<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
) -> Vec<Operation<M::Input, M::Output>> {
    let mut seen = Vec::new();
    for out in ops.iter().filter_map(|o| o.output.as_ref()) {
        model.observed_tokens(out, &mut seen);
    }
    let seen: HashSet<u64> = seen.into_iter().collect();
    ops.iter()
        .filter(|o| {
            // An unknown read constrains nothing; an unknown write matters only if observed.
            o.is_known()
                || (!model.is_read_only(&o.input)
                    && model
                        .written_token(&o.input)
                        .is_none_or(|t| seen.contains(&t)))
        })
        .cloned()
        .collect()
}

/// Decides one partition.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    limits: CheckLimits,
) -> Search {
    let pruned = prune_unobserved(model, ops);
    let ops = &pruned[..];
    let mut list = build(ops);
    let known_total = ops.iter().filter(|o| o.is_known()).count();
    let mut known_done = 0;
    let mut linearized = vec![0u64; ops.len().div_ceil(64)];
    let mut cache: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut stack: Vec<(u32, M::State, bool)> = Vec::new();
    let mut state = model.init();
    let mut cur = list[0].next;
    let mut steps = 0u64;
    loop {
        if known_done == known_total {
            return Search::Linearizable;
        }
        steps += 1;
        if steps > limits.search_steps_max || cache.len() > limits.cache_entries_max {
            return Search::Exhausted;
        }
        if cur != NIL && list[cur as usize].call {
            let entry = list[cur as usize];
            let op = &ops[entry.op as usize];
            let (next_state, output) = model.apply(&state, &op.input);
            if op.output.as_ref().is_none_or(|o| *o == output) {
                let (word, bit) = (entry.op as usize / 64, 1u64 << (entry.op % 64));
                linearized[word] |= bit;
                if cache.insert((linearized.clone(), next_state.clone())) {
                    let dominant = model.is_read_only(&op.input);
                    stack.push((cur, std::mem::replace(&mut state, next_state), dominant));
                    known_done += usize::from(op.is_known());
                    unlink(&mut list, cur);
                    if entry.mate != NIL {
                        unlink(&mut list, entry.mate);
                    }
                    cur = list[0].next;
                    continue;
                }
                linearized[word] &= !bit;
            }
            cur = entry.next;
        } else {
            // A return whose call is not linearized (or the end): undo the
            // last choice — and, past dominant moves, the choice before it.
            loop {
                let Some((call, previous, dominant)) = stack.pop() else {
                    return Search::NotLinearizable;
                };
                let entry = list[call as usize];
                state = previous;
                linearized[entry.op as usize / 64] &= !(1u64 << (entry.op % 64));
                known_done -= usize::from(ops[entry.op as usize].is_known());
                if entry.mate != NIL {
                    relink(&mut list, entry.mate);
                }
                relink(&mut list, call);
                cur = entry.next;
                if !dominant {
                    break;
                }
            }
        }
    }
}

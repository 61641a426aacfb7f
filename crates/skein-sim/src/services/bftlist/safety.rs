//! Safety of bftlist's correct replicas (BFTLIST.md §6.1 invariants 1–3):
//! their executed lists agree (of any two, one is a prefix of the other, and
//! no replica's list ever contradicts what some correct replica executed
//! before), hold only client-issued values, and each value at most once.
//!
//! Self-stabilization changes when this is judged (STYLE.md): until the
//! first transient fault (a crash — bftlist keeps no state — or a
//! corruption) it holds after every event. After one, the service may
//! converge to *any* legal state — even one without values it executed
//! before, when most replicas lost them — so the check waits for
//! convergence: at least `converge_ms` after the faults stop, and then the
//! first moment every correct replica is in the same view, allows service,
//! and holds the same list. That list is the new anchor (its values, garbage
//! included, are accepted as they are) and everything executed after it is
//! judged as before. [`converged`] tells the liveness check whether that
//! moment came.

use super::workload::Issued;
use crate::check::{check_fn, Check, ClusterView, NodeView};
use skein_bft::{BftNode, Value};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;

/// The executed list a replica holds for itself.
pub fn own_list(node: &BftNode) -> &[Value] {
    let me = node.params().me;
    &node.state().rep.rep[me].machine.list
}

struct Agreement {
    issued: Issued,
    converge_us: u64,
    /// The longest list executed by a correct replica since the anchor.
    longest: Vec<Value>,
    /// Its values, for the at-most-once check.
    values: BTreeSet<Value>,
    /// `None` while judged from the start; else the issue number at the
    /// anchor: values issued before it may legitimately sit in the anchor.
    anchor_issue: Option<u64>,
    /// Whether the anchor was taken after transient faults (shared with
    /// the liveness check [`converged`]).
    anchored: Rc<Cell<bool>>,
}

impl Agreement {
    fn check(&mut self, view: &ClusterView<'_, BftNode>) -> Result<(), String> {
        if view.transient_faults() > 0 && !self.anchored.get() {
            if self.converged(view) {
                self.anchor(view);
            }
            return Ok(());
        }
        match view.stepped() {
            Some(node) if node.honest => self.judge(&node),
            _ => Ok(()),
        }
    }

    /// Long enough after the faults stopped, correct replicas agree on a
    /// view that allows service and on their whole lists.
    fn converged(&self, view: &ClusterView<'_, BftNode>) -> bool {
        if view
            .quiet_at_us()
            .is_none_or(|q| view.now_us() < q + self.converge_us)
        {
            return false;
        }
        let mut honest = view.honest();
        let Some(first) = honest.next() else {
            return false;
        };
        let ready = |n: &NodeView<'_, BftNode>| {
            n.core.state().ve.allow_service(n.core.params()) && !n.paused
        };
        ready(&first)
            && honest.all(|n| {
                ready(&n)
                    && n.core.view() == first.core.view()
                    && own_list(n.core) == own_list(first.core)
            })
    }

    /// The converged list is the new reference.
    fn anchor(&mut self, view: &ClusterView<'_, BftNode>) {
        let list = view
            .honest()
            .next()
            .map(|n| own_list(n.core))
            .unwrap_or_default();
        self.longest = list.to_vec();
        self.values = list.iter().copied().collect();
        self.anchor_issue = Some(self.issued.borrow().len() as u64);
        self.anchored.set(true);
    }

    fn judge(&mut self, node: &NodeView<'_, BftNode>) -> Result<(), String> {
        let list = own_list(node.core);
        let common = list.len().min(self.longest.len());
        if list[..common] != self.longest[..common] {
            let at = (0..common)
                .find(|&i| list[i] != self.longest[i])
                .unwrap_or(0);
            return Err(format!(
                "replica {} executed {} at position {at}, another correct replica executed {}",
                node.id, list[at], self.longest[at]
            ));
        }
        for &x in &list[common..] {
            self.admit(node, x)?;
            self.longest.push(x);
        }
        Ok(())
    }

    /// A value newly executed by a correct replica.
    fn admit(&mut self, node: &NodeView<'_, BftNode>, x: Value) -> Result<(), String> {
        let issued = self.issued.borrow();
        let Some(&number) = issued.get(&x) else {
            return Err(format!(
                "replica {} executed {x}, which no client issued",
                node.id
            ));
        };
        let old = self.anchor_issue.is_some_and(|a| number < a);
        if !self.values.insert(x) && !old {
            return Err(format!("replica {} executed {x} twice", node.id));
        }
        Ok(())
    }
}

/// Safety after every event, judged as the module docs say; `anchored`
/// becomes true once the replicas converged after transient faults.
pub fn agreement(
    issued: Issued,
    converge_ms: u64,
    anchored: Rc<Cell<bool>>,
) -> Box<dyn Check<BftNode>> {
    let mut state = Agreement {
        issued,
        converge_us: 1_000 * converge_ms,
        longest: Vec::new(),
        values: BTreeSet::new(),
        anchor_issue: None,
        anchored,
    };
    check_fn(
        "bftlist safety (correct replicas agree; issued values, each at most once)",
        move |view: &ClusterView<'_, BftNode>| state.check(view),
    )
}

/// Liveness: after transient faults, the correct replicas converged (see
/// the module docs) by the liveness deadline.
pub fn converged(anchored: Rc<Cell<bool>>) -> Box<dyn Check<BftNode>> {
    check_fn(
        "liveness: correct replicas converge after faults stop",
        move |view: &ClusterView<'_, BftNode>| {
            if view.transient_faults() == 0 || anchored.get() {
                return Ok(());
            }
            let states: Vec<String> = view
                .honest()
                .map(|n| {
                    format!(
                        "{}: {:?} list of {}",
                        n.id,
                        n.core.view(),
                        own_list(n.core).len()
                    )
                })
                .collect();
            Err(format!(
                "correct replicas still differ: {}",
                states.join(", ")
            ))
        },
    )
}

//! The bftlist service's clients (BFTLIST.md §3): each request goes to every
//! replica, and an operation is decided once f+1 replicas give matching
//! answers — at least one of them is correct. Clients append distinct values
//! and sometimes read the list through the log (`Op::Read`).

use crate::lin::{ListInput, ListModel, ListOutput};
use crate::workload::{Outcome, ReplyFrom, Workload};
use rand::{Rng, RngCore};
use skein_bft::{BftNode, BftReply, BftRequest, Op, OpResult, Value};
use skein_core::NodeId;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Appended values start here, far from the small numbers a corruption or a
/// forged state (`[666]`) tends to hold, so "never issued" is unambiguous.
pub const VALUE_BASE: u64 = 1_000_000;

/// Values clients issued, each with its issue number (0, 1, 2, …): the
/// safety checks read it to tell issued values from invented ones.
pub type Issued = Rc<RefCell<BTreeMap<Value, u64>>>;

/// What one reply says, for matching replies of different replicas.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    /// Executed at `seq` (an append), or learnt executed at `seq`.
    Done(i64),
    /// Ran as a no-op: the client's later request had already executed.
    Duplicate(i64),
    Read(i64, Vec<Value>),
}

pub struct ListWorkload {
    /// f: an answer is believed once f+1 replicas give it.
    f: usize,
    read_percent: u32,
    next_value: u64,
    /// Per client, the next timestamp (exactly-once is per (client, ts)).
    next_ts: BTreeMap<u32, u64>,
    /// Per open operation: each answer and the replicas that gave it.
    answers: BTreeMap<usize, BTreeMap<Answer, BTreeSet<NodeId>>>,
    issued: Issued,
}

impl ListWorkload {
    pub fn new(f: usize, read_percent: u32, issued: Issued) -> Self {
        Self {
            f,
            read_percent,
            next_value: VALUE_BASE,
            next_ts: BTreeMap::new(),
            answers: BTreeMap::new(),
            issued,
        }
    }
}

fn answer(reply: &BftReply) -> Option<Answer> {
    match reply {
        BftReply::Executed { seq, result, .. } => Some(match result {
            OpResult::Read { list } => Answer::Read(*seq, list.clone()),
            OpResult::Duplicate => Answer::Duplicate(*seq),
            _ => Answer::Done(*seq),
        }),
        BftReply::AlreadyExecuted { seq, .. } => Some(Answer::Done(*seq)),
        // A refusal by one replica says nothing about the others: keep waiting.
        _ => None,
    }
}

impl Workload<BftNode> for ListWorkload {
    type Model = ListModel;

    fn model(&self) -> ListModel {
        ListModel
    }

    fn next_op(&mut self, rng: &mut dyn RngCore, client: u32) -> Option<(BftRequest, ListInput)> {
        let ts = self.next_ts.entry(client).or_insert(0);
        *ts += 1;
        let ts = *ts;
        if rng.random_range(0..100) < self.read_percent {
            let request = BftRequest::Submit {
                client,
                ts,
                op: Op::Read,
            };
            return Some((request, ListInput::Read));
        }
        self.next_value += 1;
        let value = self.next_value;
        let mut issued = self.issued.borrow_mut();
        let number = issued.len() as u64;
        issued.insert(value as Value, number);
        let request = BftRequest::Submit {
            client,
            ts,
            op: Op::Append(value as Value),
        };
        Some((request, ListInput::Append(value)))
    }

    fn outcome(
        &mut self,
        from: ReplyFrom,
        input: &ListInput,
        reply: &BftReply,
    ) -> Outcome<ListOutput> {
        let Some(answer) = answer(reply) else {
            return Outcome::Wait;
        };
        let voters = self
            .answers
            .entry(from.op)
            .or_default()
            .entry(answer.clone())
            .or_default();
        voters.insert(from.node);
        if voters.len() <= self.f {
            return Outcome::Wait;
        }
        match (input, answer) {
            (_, Answer::Duplicate(_)) => Outcome::Fail,
            (ListInput::Append(_), Answer::Done(_)) => Outcome::Ok(ListOutput::Ok),
            (ListInput::Read, Answer::Read(_, list)) => {
                Outcome::Ok(ListOutput::List(list.iter().map(|&x| x as u64).collect()))
            }
            // A read only learnt as executed has no list to show: not decided.
            (ListInput::Read, Answer::Done(_)) => Outcome::Wait,
            // f+1 replicas read an append: the checker must not accept it.
            (ListInput::Append(_), Answer::Read(_, list)) => {
                Outcome::Ok(ListOutput::List(list.iter().map(|&x| x as u64).collect()))
            }
        }
    }

    fn fan_out(&self) -> bool {
        true
    }

    fn forget(&mut self, op: usize) {
        self.answers.remove(&op);
    }

    fn linearizable_across_transient_faults(&self) -> bool {
        false // self-stabilizing: after a transient fault it only converges
    }
}

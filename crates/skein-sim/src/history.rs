//! The history of client operations: every invocation and completion with
//! virtual timestamps, as the clients saw them.

use crate::lin::Operation;
use skein_core::NodeId;

/// How an operation ended, from the client's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult<O> {
    /// Still running when the run ended: unknown.
    Pending,
    Ok(O),
    /// Known not to have taken effect.
    Fail,
    /// Timed out or cut off: may or may not have taken effect.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRecord<I, O> {
    pub client: u32,
    pub node: NodeId,
    pub input: I,
    pub invoke_us: u64,
    pub complete_us: Option<u64>,
    pub result: OpResult<O>,
}

/// A bounded history; once full, clients stop issuing operations.
#[derive(Clone, Debug)]
pub struct History<I, O> {
    ops: Vec<OpRecord<I, O>>,
    ops_max: usize,
}

/// Counts of outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub invoked: u64,
    pub ok: u64,
    pub fail: u64,
    pub unknown: u64,
}

impl<I: Clone + std::fmt::Debug, O: Clone + std::fmt::Debug> History<I, O> {
    pub fn new(ops_max: usize) -> Self {
        Self {
            ops: Vec::new(),
            ops_max,
        }
    }

    pub fn is_full(&self) -> bool {
        self.ops.len() >= self.ops_max
    }

    pub fn ops(&self) -> &[OpRecord<I, O>] {
        &self.ops
    }

    /// Records an invocation; `None` if the history is full.
    pub fn invoke(&mut self, client: u32, node: NodeId, input: I, now_us: u64) -> Option<usize> {
        if self.is_full() {
            return None;
        }
        self.ops.push(OpRecord {
            client,
            node,
            input,
            invoke_us: now_us,
            complete_us: None,
            result: OpResult::Pending,
        });
        Some(self.ops.len() - 1)
    }

    pub fn complete(&mut self, index: usize, now_us: u64, result: OpResult<O>) {
        let op = &mut self.ops[index];
        debug_assert!(
            matches!(op.result, OpResult::Pending),
            "an operation completes once"
        );
        debug_assert!(now_us >= op.invoke_us);
        op.complete_us = Some(now_us);
        op.result = result;
    }

    pub fn counts(&self) -> OpCounts {
        let mut c = OpCounts {
            invoked: self.ops.len() as u64,
            ..OpCounts::default()
        };
        for op in &self.ops {
            match op.result {
                OpResult::Ok(_) => c.ok += 1,
                OpResult::Fail => c.fail += 1,
                OpResult::Pending | OpResult::Unknown => c.unknown += 1,
            }
        }
        c
    }

    /// The operations a linearizability checker needs: failed ones are left
    /// out, pending and unknown ones have no outcome.
    pub fn to_operations(&self) -> Vec<Operation<I, O>> {
        self.ops
            .iter()
            .filter_map(|op| match &op.result {
                OpResult::Ok(out) => Some(Operation::ok(
                    op.client,
                    op.input.clone(),
                    out.clone(),
                    op.invoke_us,
                    op.complete_us.unwrap_or(op.invoke_us),
                )),
                OpResult::Fail => None,
                OpResult::Pending | OpResult::Unknown => Some(Operation::unknown(
                    op.client,
                    op.input.clone(),
                    op.invoke_us,
                )),
            })
            .collect()
    }
}

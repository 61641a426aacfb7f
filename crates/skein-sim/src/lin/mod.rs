//! Linearizability checking of recorded histories.
//!
//! A [`Model`] is the sequential specification; an [`Operation`] is one
//! invocation with its outcome and times. [`check`] splits the history by
//! the model's partition key (a key-value history is linearizable iff each
//! key's sub-history is — Herlihy & Wing's locality), runs Wing & Gong's
//! search with Lowe's memoization as Porcupine does ([`checker`]), and on a
//! failure shrinks the history to a small window that still fails
//! ([`window`]).
//!
//! Unknown outcomes (timeouts, crashes) are operations with no output and no
//! completion: they may take effect at any point after their invocation, or
//! never. Failed operations (known not to have taken effect) are left out of
//! the history by the caller.

mod cas;
mod checker;
mod model;
mod window;

pub use cas::{CasKvInput, CasKvModel, CasKvOutput};
pub use checker::{check, CheckLimits, Counterexample, LinVerdict};
pub use model::{EchoModel, KvInput, KvModel, KvOutput, ListInput, ListModel, ListOutput, Model};

use std::fmt::Debug;

/// One operation of a history, times in virtual microseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub client: u32,
    pub input: I,
    /// `None`: unknown outcome (always together with `complete_us: None`).
    pub output: Option<O>,
    pub invoke_us: u64,
    /// `None`: never known to complete; treated as completing at +infinity.
    pub complete_us: Option<u64>,
}

impl<I: Debug, O: Debug> Operation<I, O> {
    pub fn ok(client: u32, input: I, output: O, invoke_us: u64, complete_us: u64) -> Self {
        assert!(
            invoke_us <= complete_us,
            "an operation completes after it starts"
        );
        Self {
            client,
            input,
            output: Some(output),
            invoke_us,
            complete_us: Some(complete_us),
        }
    }

    pub fn unknown(client: u32, input: I, invoke_us: u64) -> Self {
        Self {
            client,
            input,
            output: None,
            invoke_us,
            complete_us: None,
        }
    }

    pub fn is_known(&self) -> bool {
        self.complete_us.is_some()
    }

    /// One line for reports: `[10..20µs] client 1 Put(0, 5) -> Ok`; an
    /// operation without a known outcome ends in `-> ?`.
    pub fn describe(&self) -> String {
        match (&self.output, self.complete_us) {
            (Some(out), Some(done)) => format!(
                "[{}..{}µs] client {} {:?} -> {:?}",
                self.invoke_us, done, self.client, self.input, out
            ),
            _ => format!(
                "[{}..?µs] client {} {:?} -> ?",
                self.invoke_us, self.client, self.input
            ),
        }
    }
}

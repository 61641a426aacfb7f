//! Sequential specifications: what a correct single copy would answer.

use std::fmt::Debug;
use std::hash::Hash;

/// A deterministic sequential object.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug + PartialEq;

    fn init(&self) -> Self::State;

    /// Applies `input` to `state`: the next state and the output a correct
    /// object would give.
    fn apply(&self, state: &Self::State, input: &Self::Input) -> (Self::State, Self::Output);

    /// Operations on different partitions never affect each other (e.g. keys);
    /// each partition is checked on its own, starting from `init`.
    fn partition(&self, input: &Self::Input) -> u64 {
        let _ = input;
        0
    }

    /// True if the operation never changes the state; such operations may be
    /// dropped when shrinking a counterexample.
    fn is_read_only(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// A token naming what this operation writes, for models where a write
    /// can influence later outputs *only* by those outputs mentioning its
    /// token (a register or list written with unique values). An unknown
    /// operation whose token no known output mentions is left out before
    /// the search — it changes no output either way — which keeps
    /// histories with many timeouts from blowing up the search. Models where
    /// a write has other visible effects (compare-and-set) return `None`.
    fn written_token(&self, input: &Self::Input) -> Option<u64> {
        let _ = input;
        None
    }

    /// The tokens an output mentions (see [`Model::written_token`]).
    fn observed_tokens(&self, output: &Self::Output, tokens: &mut Vec<u64>) {
        let _ = (output, tokens);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    Get(u64),
    Put(u64, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    Value(Option<u64>),
    Ok,
}

/// A map from keys to values, each key initially absent. Partitioned by key,
/// so its state is the value of the one key being checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = Option<u64>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Option<u64> {
        None
    }

    fn apply(&self, state: &Option<u64>, input: &KvInput) -> (Option<u64>, KvOutput) {
        match *input {
            KvInput::Get(_) => (*state, KvOutput::Value(*state)),
            KvInput::Put(_, value) => (Some(value), KvOutput::Ok),
        }
    }

    fn partition(&self, input: &KvInput) -> u64 {
        match *input {
            KvInput::Get(key) | KvInput::Put(key, _) => key,
        }
    }

    fn is_read_only(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Get(_))
    }

    fn written_token(&self, input: &KvInput) -> Option<u64> {
        match *input {
            KvInput::Put(_, value) => Some(value),
            KvInput::Get(_) => None,
        }
    }

    fn observed_tokens(&self, output: &KvOutput, tokens: &mut Vec<u64>) {
        if let KvOutput::Value(Some(v)) = output {
            tokens.push(*v);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListInput {
    Append(u64),
    Read,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListOutput {
    Ok,
    List(Vec<u64>),
}

/// An append-only list (the replicated list of the bftlist service).
#[derive(Clone, Copy, Debug, Default)]
pub struct ListModel;

impl Model for ListModel {
    type State = Vec<u64>;
    type Input = ListInput;
    type Output = ListOutput;

    fn init(&self) -> Vec<u64> {
        Vec::new()
    }

    fn apply(&self, state: &Vec<u64>, input: &ListInput) -> (Vec<u64>, ListOutput) {
        match *input {
            ListInput::Append(x) => {
                let mut next = state.clone();
                next.push(x);
                (next, ListOutput::Ok)
            }
            ListInput::Read => (state.clone(), ListOutput::List(state.clone())),
        }
    }

    fn is_read_only(&self, input: &ListInput) -> bool {
        matches!(input, ListInput::Read)
    }

    fn written_token(&self, input: &ListInput) -> Option<u64> {
        match *input {
            ListInput::Append(x) => Some(x),
            ListInput::Read => None,
        }
    }

    fn observed_tokens(&self, output: &ListOutput, tokens: &mut Vec<u64>) {
        if let ListOutput::List(xs) = output {
            tokens.extend_from_slice(xs);
        }
    }
}

/// A stateless echo: the answer is the question. Used by services whose
/// client operations carry no shared state (heartbeat's `Echo`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoModel;

impl Model for EchoModel {
    type State = ();
    type Input = u64;
    type Output = u64;

    fn init(&self) {}

    fn apply(&self, _: &(), input: &u64) -> ((), u64) {
        ((), *input)
    }

    fn partition(&self, input: &u64) -> u64 {
        *input // every echo stands alone
    }

    fn is_read_only(&self, _: &u64) -> bool {
        true
    }
}

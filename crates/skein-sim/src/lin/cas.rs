//! A key-value map with delete and compare-and-set, for services whose
//! clients do more than put and get (raft). Each value is written once, so a
//! client that saw value `u` at revision `r` and sends "set if the revision
//! is still `r`" is asking "set if the value is still `u`": the model checks
//! CAS by value and needs no log indexes.

use super::Model;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CasKvInput {
    Get(u64),
    Put(u64, u64),
    Delete(u64),
    /// Set `key` to `value` if it holds `expected` (`None`: if absent).
    Cas {
        key: u64,
        expected: Option<u64>,
        value: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CasKvOutput {
    Value(Option<u64>),
    Ok,
    Deleted {
        existed: bool,
    },
    Cas {
        succeeded: bool,
    },
    /// A reply of the wrong kind; no correct object gives it.
    Unexpected,
}

/// Partitioned by key; the state is the value of the one key being checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct CasKvModel;

impl Model for CasKvModel {
    type State = Option<u64>;
    type Input = CasKvInput;
    type Output = CasKvOutput;

    fn init(&self) -> Option<u64> {
        None
    }

    fn apply(&self, state: &Option<u64>, input: &CasKvInput) -> (Option<u64>, CasKvOutput) {
        match *input {
            CasKvInput::Get(_) => (*state, CasKvOutput::Value(*state)),
            CasKvInput::Put(_, value) => (Some(value), CasKvOutput::Ok),
            CasKvInput::Delete(_) => (
                None,
                CasKvOutput::Deleted {
                    existed: state.is_some(),
                },
            ),
            CasKvInput::Cas {
                expected, value, ..
            } => {
                let succeeded = *state == expected;
                let next = if succeeded { Some(value) } else { *state };
                (next, CasKvOutput::Cas { succeeded })
            }
        }
    }

    fn partition(&self, input: &CasKvInput) -> u64 {
        match *input {
            CasKvInput::Get(key)
            | CasKvInput::Put(key, _)
            | CasKvInput::Delete(key)
            | CasKvInput::Cas { key, .. } => key,
        }
    }

    fn is_read_only(&self, input: &CasKvInput) -> bool {
        matches!(input, CasKvInput::Get(_))
    }

    // No `written_token`: a put shows through a later CAS failing or a
    // delete finding the key, not only through outputs naming its value.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lin::{check, CheckLimits, Operation};

    fn ok(
        client: u32,
        input: CasKvInput,
        out: CasKvOutput,
        t: (u64, u64),
    ) -> Operation<CasKvInput, CasKvOutput> {
        Operation::ok(client, input, out, t.0, t.1)
    }

    #[test]
    fn cas_succeeds_only_on_the_expected_value() {
        let ops = vec![
            ok(0, CasKvInput::Put(0, 1), CasKvOutput::Ok, (0, 1)),
            ok(
                0,
                CasKvInput::Cas {
                    key: 0,
                    expected: Some(1),
                    value: 2,
                },
                CasKvOutput::Cas { succeeded: true },
                (2, 3),
            ),
            ok(
                1,
                CasKvInput::Cas {
                    key: 0,
                    expected: Some(1),
                    value: 3,
                },
                CasKvOutput::Cas { succeeded: false },
                (4, 5),
            ),
            ok(
                1,
                CasKvInput::Delete(0),
                CasKvOutput::Deleted { existed: true },
                (6, 7),
            ),
            ok(0, CasKvInput::Get(0), CasKvOutput::Value(None), (8, 9)),
        ];
        assert!(check(&CasKvModel, &ops, CheckLimits::default()).is_linearizable());
        let mut bad = ops.clone();
        bad[2].output = Some(CasKvOutput::Cas { succeeded: true });
        assert!(!check(&CasKvModel, &bad, CheckLimits::default()).is_linearizable());
    }

    #[test]
    fn an_unknown_put_may_explain_a_failed_cas() {
        let ops = vec![
            Operation::unknown(0, CasKvInput::Put(0, 7), 0),
            ok(
                1,
                CasKvInput::Cas {
                    key: 0,
                    expected: None,
                    value: 2,
                },
                CasKvOutput::Cas { succeeded: false },
                (5, 6),
            ),
        ];
        assert!(check(&CasKvModel, &ops, CheckLimits::default()).is_linearizable());
    }
}

//! The replicated state machine: a key-value map with a revision per key.
//!
//! A key's revision is the log index of the entry that last wrote it, so
//! revisions are unique and grow with every write (as etcd's mod_revision).

use crate::config::LIST_LIMIT_MAX;
use crate::request::Reply;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A write, as carried by a log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    Cas {
        key: String,
        expected_revision: u64,
        value: String,
    },
}

impl KvCommand {
    pub fn size_bytes(&self) -> usize {
        match self {
            KvCommand::Put { key, value } | KvCommand::Cas { key, value, .. } => {
                key.len() + value.len() + 8
            }
            KvCommand::Delete { key } => key.len(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvItem {
    pub key: String,
    pub value: String,
    pub revision: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kv {
    map: BTreeMap<String, (String, u64)>,
}

impl Kv {
    /// Applies the command of the entry at `index`.
    pub fn apply(&mut self, index: u64, command: &KvCommand) -> Reply {
        match command {
            KvCommand::Put { key, value } => {
                self.map.insert(key.clone(), (value.clone(), index));
                Reply::Written { revision: index }
            }
            KvCommand::Delete { key } => {
                let existed = self.map.remove(key).is_some();
                Reply::Deleted {
                    existed,
                    revision: index,
                }
            }
            KvCommand::Cas {
                key,
                expected_revision,
                value,
            } => {
                let current = self.map.get(key).map_or(0, |(_, r)| *r);
                if current == *expected_revision {
                    self.map.insert(key.clone(), (value.clone(), index));
                    Reply::Cas {
                        succeeded: true,
                        revision: index,
                    }
                } else {
                    Reply::Cas {
                        succeeded: false,
                        revision: current,
                    }
                }
            }
        }
    }

    pub fn get(&self, key: &str) -> Reply {
        match self.map.get(key) {
            Some((value, revision)) => Reply::Value {
                value: Some(value.clone()),
                revision: *revision,
            },
            None => Reply::Value {
                value: None,
                revision: 0,
            },
        }
    }

    pub fn list(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Reply {
        let limit = limit.clamp(1, LIST_LIMIT_MAX) as usize;
        let start = match start_after {
            Some(after) if after >= prefix => std::ops::Bound::Excluded(after.to_string()),
            _ => std::ops::Bound::Included(prefix.to_string()),
        };
        let mut items = Vec::new();
        let mut more = false;
        for (key, (value, revision)) in self.map.range((start, std::ops::Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(KvItem {
                key: key.clone(),
                value: value.clone(),
                revision: *revision,
            });
        }
        Reply::List { items, more }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("a map of strings always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(kv: &mut Kv, index: u64, key: &str, value: &str) -> Reply {
        kv.apply(
            index,
            &KvCommand::Put {
                key: key.into(),
                value: value.into(),
            },
        )
    }

    #[test]
    fn cas_checks_the_revision() {
        let mut kv = Kv::default();
        let cas = |expected_revision| KvCommand::Cas {
            key: "k".into(),
            expected_revision,
            value: "v".into(),
        };
        assert_eq!(
            kv.apply(3, &cas(0)),
            Reply::Cas {
                succeeded: true,
                revision: 3
            }
        );
        assert_eq!(
            kv.apply(4, &cas(0)),
            Reply::Cas {
                succeeded: false,
                revision: 3
            }
        );
        assert_eq!(
            kv.apply(5, &cas(3)),
            Reply::Cas {
                succeeded: true,
                revision: 5
            }
        );
        assert_eq!(
            kv.get("k"),
            Reply::Value {
                value: Some("v".into()),
                revision: 5
            }
        );
    }

    #[test]
    fn list_pages_by_prefix() {
        let mut kv = Kv::default();
        for (i, key) in ["a", "b/1", "b/2", "b/3", "c"].iter().enumerate() {
            put(&mut kv, i as u64 + 1, key, "x");
        }
        let Reply::List { items, more } = kv.list("b/", None, 2) else {
            panic!()
        };
        assert!(more);
        assert_eq!(
            items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
            ["b/1", "b/2"]
        );
        let Reply::List { items, more } = kv.list("b/", Some("b/2"), 2) else {
            panic!()
        };
        assert!(!more);
        assert_eq!(items.len(), 1);
        assert_eq!(Kv::decode(&kv.encode()), Some(kv));
    }
}

//! The bftlist REST bodies, and how a client's request is authenticated.
//!
//! Client `c` shares a key with each replica `r`, `K(bftlist, c, r)`
//! ([`skein_core::client_key`]), and tags the canonical text of a request
//! ([`SubmitBody::signed_text`]) for each replica with that replica's key.
//! A replica checks its tag before the request reaches the core, so no one
//! without `c`'s keys gets a request accepted as `c`'s at a correct replica
//! — not even a Byzantine replica, which holds only its own client keys
//! (`--keys-file`). A replay of a captured request carries its `(client,
//! ts)` and is answered by the exactly-once rule with the first result, not
//! executed again. Requests travel between replicas inside authenticated
//! peer channels; a Byzantine replica that alters one (MODIFY_CLIENT_REQ) is
//! outvoted by the algorithm's quorums, as in BFTLIST.md §5.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skein_bft::Op;
use skein_core::client_key::ClientKey;
use utoipa::ToSchema;

/// The service name client keys are derived for.
pub const CLIENT_KEY_SERVICE: &str = "bftlist";

/// `POST /api/v1/list/requests`: one client request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// The client's id, `0..clients_max` (K of the spec; 64 by default).
    pub client: u32,
    /// Identifies the request with `client`; must grow with each request of
    /// the client, which has one request outstanding at a time (§3).
    pub ts: u64,
    /// `append`, `remove`, `read` or `no-op`.
    pub op: String,
    /// The client's tag over [`SubmitBody::signed_text`] for the replica it
    /// is sent to: 32 hex digits, HMAC-SHA256 with the key the client shares
    /// with that replica (`skein list key --client C` prints them), truncated
    /// to 16 bytes. Required when the cluster authenticates; ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// The value to append or remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

impl SubmitBody {
    /// The core's operation, or why the body names none.
    pub fn to_op(&self) -> Result<Op, String> {
        let value = || {
            self.value
                .ok_or_else(|| format!("`{}` needs a `value` (an integer)", self.op))
        };
        let no_value = |op: Op| match self.value {
            Some(_) => Err(format!("`{}` takes no `value`", self.op)),
            None => Ok(op),
        };
        match self.op.to_ascii_lowercase().as_str() {
            "append" => Ok(Op::Append(value()?)),
            "remove" => Ok(Op::Remove(value()?)),
            "read" => no_value(Op::Read),
            "no-op" | "noop" | "no_op" => no_value(Op::NoOp),
            other => Err(format!(
                "unknown op `{other}`; expected append, remove, read or no-op"
            )),
        }
    }
}

/// A replica's answer to a submitted request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutedBody {
    pub client: u32,
    pub ts: u64,
    /// The sequence number the request executed at.
    pub seq: i64,
    /// The result, e.g. `"Appended"`, `{"Removed":{"found":true}}`,
    /// `{"Read":{"list":[1,2]}}`; null if the request had executed before
    /// this call and the replica no longer knows its result.
    #[schema(value_type = Object)]
    pub result: Option<Value>,
}

/// `GET /api/v1/list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListBody {
    /// The sequence number of the last executed request (-1: none).
    pub last_exec: i64,
    pub list: Vec<i64>,
}

/// `GET/PUT /api/v1/bft/byzantine`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByzantineBody {
    /// A behaviour of BFTLIST.md §5 in kebab case (`unresponsive`,
    /// `different-views`, …), or null for a correct replica.
    pub behaviour: Option<String>,
}

/// `POST /api/v1/bft/corrupt`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorruptBody {
    /// Seeds the corruption (the same seed corrupts the same way); random if left out.
    #[serde(default)]
    pub seed: Option<u64>,
}

impl SubmitBody {
    /// The bytes a client tags: the service, client, ts, op and value on
    /// one line each, op in lower case as [`op_name`] spells it.
    pub fn signed_text(client: u32, ts: u64, op: &Op) -> String {
        let value = match op {
            Op::Append(v) | Op::Remove(v) => v.to_string(),
            Op::Read | Op::NoOp => String::new(),
        };
        format!(
            "skein-bftlist-request\n{client}\n{ts}\n{}\n{value}",
            op_name(op)
        )
    }

    /// A body for `op`, tagged with `key` when there is one.
    pub fn new(client: u32, ts: u64, op: &Op, key: Option<&ClientKey>) -> Self {
        let value = match op {
            Op::Append(v) | Op::Remove(v) => Some(*v),
            Op::Read | Op::NoOp => None,
        };
        SubmitBody {
            client,
            ts,
            op: op_name(op).into(),
            value,
            auth: key.map(|k| k.tag(Self::signed_text(client, ts, op).as_bytes())),
        }
    }

    /// Checks the tag against `key`, the one client `client` shares with this replica.
    pub fn authenticate(&self, op: &Op, key: &ClientKey) -> Result<(), String> {
        let Some(tag) = &self.auth else {
            return Err(format!(
                "this cluster authenticates clients: sign the request with client {}'s keys \
                 (`skein list key --client {}` on a machine holding the cluster secret)",
                self.client, self.client
            ));
        };
        if key.verify(Self::signed_text(self.client, self.ts, op).as_bytes(), tag) {
            Ok(())
        } else {
            Err(format!(
                "the request's `auth` tag is not client {}'s over this request for this replica",
                self.client
            ))
        }
    }
}

/// `append`, `remove`, `read` or `no-op`.
pub fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Append(_) => "append",
        Op::Remove(_) => "remove",
        Op::Read => "read",
        Op::NoOp => "no-op",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(op: &str, value: Option<i64>) -> SubmitBody {
        SubmitBody {
            client: 0,
            ts: 1,
            op: op.into(),
            value,
            auth: None,
        }
    }

    #[test]
    fn ops_parse_and_bad_ones_say_why() {
        assert_eq!(body("append", Some(3)).to_op(), Ok(Op::Append(3)));
        assert_eq!(body("REMOVE", Some(3)).to_op(), Ok(Op::Remove(3)));
        assert_eq!(body("read", None).to_op(), Ok(Op::Read));
        assert_eq!(body("no-op", None).to_op(), Ok(Op::NoOp));
        assert!(body("append", None).to_op().unwrap_err().contains("value"));
        assert!(body("read", Some(1))
            .to_op()
            .unwrap_err()
            .contains("no `value`"));
        assert!(body("pop", None)
            .to_op()
            .unwrap_err()
            .contains("unknown op"));
    }

    #[test]
    fn a_tagged_request_passes_and_any_change_fails() {
        use skein_core::mac::ClusterSecret;
        use skein_core::NodeId;
        let secret = ClusterSecret::new(vec![7; 32]).unwrap();
        let key = |client, replica| {
            ClientKey::derive(&secret, CLIENT_KEY_SERVICE, client, NodeId(replica))
        };
        let body = SubmitBody::new(2, 9, &Op::Append(5), Some(&key(2, 1)));
        assert_eq!(body.to_op(), Ok(Op::Append(5)));
        assert_eq!(body.authenticate(&Op::Append(5), &key(2, 1)), Ok(()));
        // Another op, ts, client, replica or key: refused.
        assert!(body.authenticate(&Op::Append(6), &key(2, 1)).is_err());
        assert!(
            body.authenticate(&Op::Append(5), &key(2, 3)).is_err(),
            "replica 3's tag differs"
        );
        let mut later = body.clone();
        later.ts = 10;
        assert!(later.authenticate(&Op::Append(5), &key(2, 1)).is_err());
        let mut other = body.clone();
        other.client = 3;
        assert!(other.authenticate(&Op::Append(5), &key(3, 1)).is_err());
        let forged = SubmitBody::new(2, 9, &Op::Append(5), Some(&key(3, 1)));
        assert!(forged.authenticate(&Op::Append(5), &key(2, 1)).is_err());
        let unsigned = SubmitBody::new(2, 9, &Op::Append(5), None);
        let why = unsigned
            .authenticate(&Op::Append(5), &key(2, 1))
            .unwrap_err();
        assert!(why.contains("skein list key --client 2"), "{why}");
    }
}

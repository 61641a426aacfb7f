//! Identifiers shared by every protocol and driver.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node's id within one cluster. Node ids start at 1 so that the default
/// ports are `base + id` (node 1 uses 3001, 4001, 5001, 7001).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u16);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies one client request inside one node, so that a reply effect can be
/// matched to the caller that is waiting for it. Drivers allocate these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

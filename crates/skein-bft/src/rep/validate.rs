//! BFTLIST.md §8 [EXT] input validation: a peer's structure is refused before
//! it is stored when it exceeds a bound or names an out-of-range id or view.

use super::structure::Replica;
use super::RepMsg;
use crate::config::Params;
use crate::types::{ClientRequest, Request};

pub(super) fn creq_ok(p: &Params, c: &ClientRequest) -> bool {
    (c.client as usize) < p.clients || c.is_dummy()
}

pub(super) fn req_ok(p: &Params, r: &Request) -> bool {
    creq_ok(p, &r.creq) && r.view < p.n && r.seq >= 0
}

/// Bounds, ranges and a well-formed hash-chained log.
pub fn structure_ok(p: &Params, rs: &Replica, with_machine: bool) -> bool {
    let bounds = rs.pend.len() <= p.sigma_k()
        && rs.reqq.len() <= p.sigma_k()
        && rs.rlog.len() <= p.rlog_max()
        && rs.machine.list.len() <= p.list_len_max
        && rs.machine.last.len() <= p.clients
        && (with_machine || rs.machine.is_empty());
    let ranges = rs.prim.in_range(p.n)
        && rs.seq >= -1
        && rs.pend.iter().all(|c| creq_ok(p, c))
        && rs.reqq.iter().all(|e| req_ok(p, &e.req) && e.status.0 <= 7)
        && rs
            .rlog
            .iter()
            .all(|e| req_ok(p, &e.req) && e.xset.iter().all(|&k| k < p.n))
        && rs.machine.last.keys().all(|&c| (c as usize) < p.clients);
    bounds && ranges && rs.log_well_formed()
}

/// The digest of the sender's whole log respects the log bound, and the
/// delta is no longer than the log it belongs to.
pub fn digest_ok(p: &Params, m: &RepMsg) -> bool {
    usize::try_from(m.log.len).is_ok_and(|len| len <= p.rlog_max() && m.rs.rlog.len() <= len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BftConfig;
    use crate::types::{Op, View};

    #[test]
    fn out_of_range_structures_are_refused() {
        let p = Params::new(6, 0, &BftConfig::default());
        let ok = Replica::default();
        assert!(structure_ok(&p, &ok, false));
        assert!(structure_ok(&p, &Replica::tee(), false));
        let bad = Replica {
            prim: View::V(6),
            ..Replica::default()
        };
        assert!(!structure_ok(&p, &bad, false));
        let mut bad = Replica::default();
        bad.pend.push(ClientRequest {
            client: 99,
            ts: 1,
            op: Op::NoOp,
        });
        assert!(!structure_ok(&p, &bad, false));
        let mut bad = Replica::default();
        bad.machine.list.push(1);
        assert!(!structure_ok(&p, &bad, false), "machine only with the flag");
        assert!(structure_ok(&p, &bad, true));
    }
}

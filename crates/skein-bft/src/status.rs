//! What `GET /api/v1/bft/status` shows, and the node's counters.

use crate::byzantine::ByzantineBehaviour;
use crate::node::BftNode;
use crate::pm::PmStatus;
use crate::types::{View, ViewPair};
use serde::{Deserialize, Serialize};

/// Monotone counters for metrics (repairs are counted, never asserted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BftCounters {
    /// Corrupted values repaired by bounded trimming or range checks.
    pub repairs: u64,
    /// Rep flushes (stale state or conflict detected).
    pub flushes: u64,
    /// VE resets to RST_PAIR at step 1.
    pub ve_resets: u64,
    /// Consolidated states adopted.
    pub adoptions: u64,
    /// Times PM asked VE for a view change.
    pub view_change_demands: u64,
    /// Requests executed.
    pub executed: u64,
    /// Messages refused by validation.
    pub dropped: u64,
    /// Messages sent (per destination).
    pub sent: u64,
    /// Faults injected by an operator (corruptions, loaded states).
    pub injected_faults: u64,
    /// Rep broadcasts sent between ticks by event-driven replication.
    pub event_sends: u64,
    /// Rep messages whose log delta did not rebuild a log matching their
    /// digest (a corrupted cached copy, a lying peer): the copy was dropped
    /// and the peer's whole log asked for.
    pub log_deltas_unverified: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BftStatus {
    /// Set when the config was refused; the node then does nothing else.
    pub config_error: Option<String>,
    pub n: usize,
    pub f: usize,
    pub self_stabilizing: bool,
    pub event_driven_fd: bool,
    /// The current view number (`get_current_view(i)`), None while ⊥.
    pub view: Option<usize>,
    pub view_pair: ViewPair,
    pub phase: u8,
    /// The primary's node id, if there is a view.
    pub primary: Option<u16>,
    pub allow_service: bool,
    pub vchg: bool,
    pub witness: bool,
    pub pm_status: PmStatus,
    pub suspected: bool,
    pub executed_len: usize,
    pub last_exec: i64,
    pub pending: usize,
    pub queued: usize,
    pub rlog: usize,
    pub view_changed: bool,
    pub con_flag: bool,
    pub need_flush: bool,
    pub edfd_round: u64,
    /// From this replica's last view-change demand until it served in the
    /// new view, in ms (the original's convergence figure); None before.
    pub last_view_change_ms: Option<u64>,
    pub byzantine: Option<ByzantineBehaviour>,
    pub counters: crate::status::BftCounters,
}

impl BftNode {
    pub(crate) fn build_status(&self) -> BftStatus {
        let p = &self.p;
        let n = p.n;
        if n == 0 || self.config_error.is_some() {
            return BftStatus {
                config_error: self.config_error.as_ref().map(ToString::to_string),
                n,
                f: p.f,
                self_stabilizing: p.self_stabilizing,
                event_driven_fd: p.event_driven_fd,
                view: None,
                view_pair: crate::types::RST_PAIR,
                phase: 0,
                primary: None,
                allow_service: false,
                vchg: false,
                witness: false,
                pm_status: PmStatus::Ok,
                suspected: false,
                executed_len: 0,
                last_exec: -1,
                pending: 0,
                queued: 0,
                rlog: 0,
                view_changed: false,
                con_flag: false,
                need_flush: false,
                edfd_round: 0,
                last_view_change_ms: None,
                byzantine: self.byz,
                counters: self.counters.clone(),
            };
        }
        let me = p.me;
        let st = &self.st;
        let cv = self.current_views();
        let view = cv[me].primary();
        let own = &st.rep.rep[me];
        BftStatus {
            config_error: None,
            n,
            f: p.f,
            self_stabilizing: p.self_stabilizing,
            event_driven_fd: p.event_driven_fd,
            view,
            view_pair: st.ve.views[me],
            phase: st.ve.phs[me],
            primary: view.filter(|&v| v < n).map(|v| self.node_of(v).0),
            allow_service: st.ve.allow_service(p),
            vchg: st.ve.vchg[me],
            witness: st.ve.wit[me],
            pm_status: st.pm.vcm[me].status,
            suspected: st.fd.suspected(p, &cv),
            executed_len: own.machine.list.len(),
            last_exec: own.last_exec(),
            pending: own.pend.len(),
            queued: own.reqq.len(),
            rlog: own.rlog.len(),
            view_changed: own.view_changed,
            con_flag: own.con_flag,
            need_flush: st.rep.need_flush,
            edfd_round: st.edfd.token,
            last_view_change_ms: self
                .last_view_change()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            byzantine: self.byz,
            counters: self.counters.clone(),
        }
    }

    /// This replica's current view (None while ⊥).
    pub fn view(&self) -> View {
        self.st.ve.get_current_view(&self.p, self.p.me)
    }
}

//! Transient-fault injection: arbitrary values for every module's variables
//! (within their types, including out-of-range ids and views), and random
//! well-formed messages for the generic Byzantine behaviour.

use crate::edfd::EdfdMsg;
use crate::fd::FdMsg;
use crate::hash::Hasher64;
use crate::machine::{LastReq, Machine};
use crate::message::BftMessage;
use crate::node::BftState;
use crate::pm::{PmMsg, PmStatus, Vcm};
use crate::rep::{LogEntry, RepMsg, Replica, ReqEntry};
use crate::types::{ClientRequest, Op, Phases, Request, View, ViewPair};
use crate::ve::{Info, VeMsg};
use rand::{Rng, RngCore};

/// Overwrites every module's variables with arbitrary values.
pub fn corrupt_state(st: &mut BftState, n: usize, clients: usize, rng: &mut dyn RngCore) {
    let ve = &mut st.ve;
    for k in 0..n {
        ve.phs[k] = rng.random_range(0..3);
        ve.wit[k] = rng.random();
        ve.views[k] = pair(rng, n);
        ve.vchg[k] = rng.random();
        ve.echo[k] = info(rng, n);
        ve.mask[k] = rng.random_bool(0.8);
    }
    ve.wit_set = (0..n + 1).filter(|_| rng.random_bool(0.5)).collect();
    ve.edfd_after = rng.random_range(0..1000);
    for r in &mut st.rep.rep {
        *r = replica(rng, n, clients);
    }
    st.rep.need_flush = rng.random();
    st.rep.flush = rng.random();
    for e in &mut st.pm.vcm {
        *e = vcm(rng, n);
    }
    let fd = &mut st.fd;
    for k in 0..n {
        fd.beat[k] = rng.random_range(0..500);
        fd.susp[k] = rng.random();
        fd.silent_ticks[k] = rng.random_range(0..50);
    }
    fd.cnt = rng.random_range(0..500);
    fd.prim = view(rng, n);
    fd.check = (0..rng.random_range(0..4))
        .map(|_| creq(rng, clients))
        .collect();
    fd.fd_set = (0..n).filter(|_| rng.random()).collect();
    let ed = &mut st.edfd;
    ed.token = rng.random_range(0..1000);
    ed.counters
        .iter_mut()
        .for_each(|c| *c = rng.random_range(0..10));
    ed.last.token = rng.random_range(0..1000);
    ed.last.correct = (0..n).filter(|_| rng.random_bool(0.7)).collect();
}

/// A random message; fields are drawn for clusters of up to 12 replicas.
pub fn arbitrary_message(rng: &mut dyn RngCore) -> BftMessage {
    let n = rng.random_range(1..=12);
    match rng.random_range(0..6) {
        0 => BftMessage::Ve(VeMsg {
            own: info(rng, n),
            about_you: info(rng, n),
        }),
        1 => {
            let with_machine: bool = rng.random();
            let mut rs = replica(rng, n, 4);
            if !with_machine {
                rs.machine = Machine::default();
            }
            let mut m = RepMsg::whole(rs, with_machine, None);
            if rng.random_bool(0.3) {
                // A delta: a suffix of the log with a digest it may not match.
                let cut = rng.random_range(0..=m.rs.rlog.len());
                m.rs.rlog.drain(..cut);
                m.log.len = m.log.len.saturating_add(rng.random_range(0..3));
            }
            if rng.random() {
                m.holds = Some(crate::rep::LogHead {
                    seq: rng.random_range(-2..20),
                    chain: rng.random(),
                });
            }
            BftMessage::Rep(Box::new(m))
        }
        2 => BftMessage::StateRequest,
        3 => BftMessage::Pm(PmMsg { vcm: vcm(rng, n) }),
        4 => BftMessage::Fd(FdMsg { susp: rng.random() }),
        _ => BftMessage::Edfd(EdfdMsg {
            token: rng.random_range(0..100),
            owner: rng.random_range(0..n),
        }),
    }
}

fn view(rng: &mut dyn RngCore, n: usize) -> View {
    if rng.random_bool(0.15) {
        View::Tee
    } else {
        View::V(rng.random_range(0..n + 1))
    }
}

fn pair(rng: &mut dyn RngCore, n: usize) -> ViewPair {
    ViewPair {
        cur: view(rng, n),
        next: view(rng, n),
    }
}

fn info(rng: &mut dyn RngCore, n: usize) -> Info {
    Info {
        phase: rng.random_range(0..2),
        wit: rng.random(),
        view: pair(rng, n),
        vchg: rng.random(),
    }
}

fn creq(rng: &mut dyn RngCore, clients: usize) -> ClientRequest {
    let op = match rng.random_range(0..4) {
        0 => Op::NoOp,
        1 => Op::Remove(rng.random_range(0..10)),
        2 => Op::Read,
        _ => Op::Append(rng.random_range(0..10)),
    };
    ClientRequest {
        client: rng.random_range(0..clients as u32 + 1),
        ts: rng.random_range(0..20),
        op,
    }
}

fn request(rng: &mut dyn RngCore, n: usize, clients: usize) -> Request {
    Request {
        creq: creq(rng, clients),
        view: rng.random_range(0..n),
        seq: rng.random_range(-1..30),
    }
}

fn replica(rng: &mut dyn RngCore, n: usize, clients: usize) -> Replica {
    let mut machine = Machine::default();
    for _ in 0..rng.random_range(0..5) {
        machine.list.push(rng.random_range(0..10));
    }
    if rng.random_bool(0.3) {
        machine.last.insert(
            rng.random_range(0..clients as u32),
            LastReq {
                ts: rng.random_range(0..20),
                seq: rng.random_range(0..30),
            },
        );
    }
    let start = rng.random_range(0..20);
    let rlog = (0..rng.random_range(0..4))
        .map(|i| {
            let mut req = request(rng, n, clients);
            req.seq = start + i;
            LogEntry {
                req,
                xset: (0..n).filter(|_| rng.random()).collect(),
                digest: rng.random(),
                chain: Hasher64::default().u64(rng.random()).finish(),
            }
        })
        .collect();
    Replica {
        machine,
        rlog,
        pend: (0..rng.random_range(0..4))
            .map(|_| creq(rng, clients))
            .collect(),
        reqq: (0..rng.random_range(0..4))
            .map(|_| ReqEntry {
                req: request(rng, n, clients),
                status: Phases(rng.random_range(0..8)),
            })
            .collect(),
        seq: rng.random_range(-1..40),
        con_flag: rng.random(),
        view_changed: rng.random(),
        prim: view(rng, n),
    }
}

fn vcm(rng: &mut dyn RngCore, n: usize) -> Vcm {
    Vcm {
        status: match rng.random_range(0..3) {
            0 => PmStatus::Ok,
            1 => PmStatus::NoService,
            _ => PmStatus::VChange,
        },
        prim: view(rng, n),
        need_change: rng.random(),
        need_set: (0..n).filter(|_| rng.random()).collect(),
    }
}

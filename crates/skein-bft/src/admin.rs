//! Operator requests: inspect a replica, or inject the faults of BFTLIST.md
//! §4 (transient corruption, an injected start state) and §5 (Byzantine
//! behaviours) into a running one. Not part of the algorithm.
//!
//! The requests that change state need `allow_fault_injection` in the
//! config: the runtime sets it only from the node's `--allow-fault-injection`
//! flag, so no API path (the service's routes or the generic
//! `/api/v1/request`) can corrupt a node that was not started for it.

use crate::message::{AdminReply, AdminRequest, BftReply};
use crate::node::BftNode;
use rand::SeedableRng;
use skein_core::{Context, RequestId};

impl BftNode {
    pub(crate) fn admin_request(
        &mut self,
        ctx: &mut Context<'_, Self>,
        id: RequestId,
        request: AdminRequest,
    ) {
        let reply = match self.admin(request) {
            Ok(reply) => BftReply::Admin(reply),
            Err(reason) => BftReply::Refused { reason },
        };
        ctx.reply(id, reply);
    }

    /// Applies one operator request; `Err` says why it was refused.
    pub fn admin(&mut self, request: AdminRequest) -> Result<AdminReply, String> {
        let changes_state = !matches!(request, AdminRequest::GetState | AdminRequest::GetByzantine);
        if changes_state && !self.config.allow_fault_injection {
            return Err("fault injection is off on this node; start it with \
                        --allow-fault-injection to corrupt its state or make it Byzantine"
                .to_string());
        }
        if changes_state {
            if let Some(e) = &self.config_error {
                return Err(format!("this node is inert ({e}); nothing to inject into"));
            }
        }
        Ok(match request {
            AdminRequest::GetState => AdminReply::State(Box::new(self.state().clone())),
            AdminRequest::GetByzantine => AdminReply::Byzantine(self.byzantine()),
            AdminRequest::SetByzantine(b) => {
                self.set_byzantine(b);
                AdminReply::Byzantine(self.byzantine())
            }
            AdminRequest::Corrupt { seed } => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                crate::corrupt::corrupt_state(&mut self.st, self.p.n, self.p.clients, &mut rng);
                self.counters.injected_faults += 1;
                AdminReply::Corrupted { seed }
            }
            AdminRequest::LoadState(state) => {
                self.set_state(*state);
                // Wrong array lengths would break indexing before the next tick.
                self.sanitize();
                self.counters.injected_faults += 1;
                AdminReply::StateLoaded
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{AdminReply, AdminRequest, BftReply, BftRequest};
    use crate::node::{BftNode, BftState};
    use crate::{BftConfig, ByzantineBehaviour};
    use skein_core::{Context, Effect, Input, NodeId, Protocol, RequestId};

    fn node(allow: bool) -> BftNode {
        let members: Vec<NodeId> = (1..=6).map(NodeId).collect();
        let config = BftConfig {
            allow_fault_injection: allow,
            ..BftConfig::default()
        };
        BftNode::new(NodeId(1), &members, &config)
    }

    /// Steps one request through `Protocol::step` and returns its reply.
    fn ask(node: &mut BftNode, request: BftRequest) -> Option<BftReply> {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let mut effects = Vec::new();
        let mut ctx = Context::new(NodeId(1), std::time::Duration::ZERO, &mut rng, &mut effects);
        let id = RequestId(7);
        node.step(&mut ctx, Input::Request { id, request });
        effects.into_iter().find_map(|e| match e {
            Effect::Reply { request, reply } if request == id => Some(reply),
            _ => None,
        })
    }

    fn admin(r: AdminRequest) -> BftRequest {
        BftRequest::Admin(r)
    }

    #[test]
    fn state_changes_are_refused_without_the_flag_and_reads_are_not() {
        let mut n = node(false);
        for r in [
            AdminRequest::SetByzantine(Some(ByzantineBehaviour::Unresponsive)),
            AdminRequest::Corrupt { seed: 1 },
            AdminRequest::LoadState(Box::new(BftState::new(6))),
        ] {
            match ask(&mut n, admin(r)) {
                Some(BftReply::Refused { reason }) => {
                    assert!(reason.contains("--allow-fault-injection"), "{reason}")
                }
                other => panic!("not refused: {other:?}"),
            }
        }
        assert_eq!(n.byzantine(), None);
        assert_eq!(n.state(), &BftState::new(6));
        assert_eq!(
            ask(&mut n, admin(AdminRequest::GetByzantine)),
            Some(BftReply::Admin(AdminReply::Byzantine(None)))
        );
        assert_eq!(
            ask(&mut n, admin(AdminRequest::GetState)),
            Some(BftReply::Admin(AdminReply::State(Box::new(BftState::new(
                6
            )))))
        );
    }

    #[test]
    fn an_unresponsive_node_still_answers_its_operator() {
        let mut n = node(true);
        let set = |b| admin(AdminRequest::SetByzantine(b));
        let unresponsive = Some(ByzantineBehaviour::Unresponsive);
        assert_eq!(
            ask(&mut n, set(unresponsive)),
            Some(BftReply::Admin(AdminReply::Byzantine(unresponsive)))
        );
        // Clients get nothing from it (§5), the operator does.
        assert_eq!(ask(&mut n, BftRequest::Show), None);
        assert_eq!(
            ask(&mut n, set(None)),
            Some(BftReply::Admin(AdminReply::Byzantine(None)))
        );
        assert!(matches!(
            ask(&mut n, BftRequest::Show),
            Some(BftReply::List { .. })
        ));
    }

    #[test]
    fn corruption_is_seeded_and_a_loaded_state_is_repaired_at_once() {
        let (mut a, mut b) = (node(true), node(true));
        let corrupt = || admin(AdminRequest::Corrupt { seed: 42 });
        assert_eq!(
            ask(&mut a, corrupt()),
            Some(BftReply::Admin(AdminReply::Corrupted { seed: 42 }))
        );
        ask(&mut b, corrupt());
        assert_eq!(a.state(), b.state(), "same seed, same corruption");
        assert_ne!(a.state(), &BftState::new(6));
        assert_eq!(a.counters().injected_faults, 1);
        // A state shaped for another cluster size must not break indexing.
        let wrong = BftState::new(3);
        assert_eq!(
            ask(&mut a, admin(AdminRequest::LoadState(Box::new(wrong)))),
            Some(BftReply::Admin(AdminReply::StateLoaded))
        );
        let status = a.status();
        assert_eq!(status.n, 6);
        assert_eq!(a.state().ve.phs.len(), 6);
    }
}

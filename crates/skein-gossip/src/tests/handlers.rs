use super::*;
use crate::identity::Identity;
use crate::message::{Broadcast, Fact, Join, Update};
use crate::{MemberState, GOSSIP_VERSION};

fn started(id: u16, boot: &[u16]) -> Gossip {
    let config = test_config(boot);
    let mut node = boot_node(id, &config, &[], 1);
    start(&mut node);
    node
}

/// Start, then the identity write becomes durable.
fn start(node: &mut Gossip) -> Vec<Effect<Gossip>> {
    step(node, Duration::ZERO, Input::Start);
    step(node, Duration::ZERO, Input::Persisted { token: 1 })
}

fn join_of(id: u16, seed: u64, version: u16) -> (Identity, Join) {
    let identity = Identity::generate(&mut ChaCha8Rng::seed_from_u64(seed));
    let fact = Fact::Alive {
        key: identity.public(),
        address: address(id),
        version,
        beacon: false,
    };
    let alive = Update::signed(&identity, NodeId(id), 0, fact, NodeId(id));
    (
        identity,
        Join {
            alive,
            pow_nonce: 0,
        },
    )
}

fn join(node: &mut Gossip, from: u16, join: Join) -> Vec<Effect<Gossip>> {
    step(
        node,
        Duration::from_millis(10),
        Input::Message {
            from: NodeId(from),
            message: GossipMessage::Join(join),
        },
    )
}

#[test]
fn start_persists_the_identity_and_joins_through_the_boot_nodes() {
    let config = test_config(&[1, 2]);
    let mut node = boot_node(3, &config, &[], 1);
    let effects = step(&mut node, Duration::ZERO, Input::Start);
    assert!(
        matches!(effects.as_slice(), [Effect::Persist { token: 1, .. }]),
        "silent until its identity is durable: {effects:?}"
    );
    let effects = step(&mut node, Duration::ZERO, Input::Persisted { token: 1 });
    let joins: Vec<NodeId> = sends(&effects)
        .into_iter()
        .filter(|(_, m)| matches!(m, GossipMessage::Join(_)))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(joins, vec![NodeId(1), NodeId(2)]);
}

#[test]
fn a_join_is_welcomed_with_the_member_list_and_the_joiner_added_as_peer() {
    let mut boot = started(1, &[]);
    let (_, j) = join_of(2, 2, GOSSIP_VERSION);
    let effects = join(&mut boot, 2, j);
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::AddPeer { id: NodeId(2), .. })));
    let welcome = sends(&effects)
        .into_iter()
        .find(|(to, m)| *to == NodeId(2) && matches!(m, GossipMessage::Welcome { .. }));
    assert!(welcome.is_some(), "{effects:?}");
    assert_eq!(boot.state_of(NodeId(2)), Some(MemberState::Alive));
}

#[test]
fn an_incompatible_version_is_refused_with_its_reason() {
    let mut boot = started(1, &[]);
    let (_, j) = join_of(2, 2, GOSSIP_VERSION + 1);
    let effects = join(&mut boot, 2, j);
    let sent = sends(&effects);
    let [(to, GossipMessage::Refused { reason })] = sent.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(*to, NodeId(2));
    let theirs = format!("version {}", GOSSIP_VERSION + 1);
    assert!(reason.contains(&theirs), "{reason}");
    assert_eq!(boot.counters().incompatible_versions, 1);
    assert_eq!(boot.state_of(NodeId(2)), None);
}

#[test]
fn a_join_for_someone_else_or_badly_signed_is_refused_and_counted() {
    let mut boot = started(1, &[]);
    let (_, j) = join_of(2, 2, GOSSIP_VERSION);
    let effects = join(&mut boot, 3, j.clone());
    assert!(matches!(
        sends(&effects)[0].1,
        GossipMessage::Refused { .. }
    ));
    let mut tampered = j;
    tampered.alive.incarnation = 9;
    let effects = join(&mut boot, 2, tampered);
    assert!(matches!(
        sends(&effects)[0].1,
        GossipMessage::Refused { .. }
    ));
    assert_eq!(boot.counters().signature_rejects, 1);
    assert_eq!(boot.state_of(NodeId(2)), None);
}

#[test]
fn proof_of_work_and_the_join_rate_limit_are_enforced() {
    let mut config = test_config(&[]);
    config.pow_difficulty_bits = 8;
    config.join_rate_per_sec = 1;
    let mut boot = boot_node(1, &config, &[], 1);
    start(&mut boot);
    let (identity, mut j) = join_of(2, 2, GOSSIP_VERSION);
    j.pow_nonce = (0..)
        .find(|n| !crate::identity::pow_valid(&identity.public(), *n, 8))
        .unwrap();
    let effects = join(&mut boot, 2, j.clone());
    let sent = sends(&effects);
    assert!(
        matches!(sent[0].1, GossipMessage::Refused { reason } if reason.contains("proof of work"))
    );
    j.pow_nonce = crate::identity::pow_solve(&identity.public(), 8);
    let effects = join(&mut boot, 2, j);
    let sent = sends(&effects);
    assert!(
        matches!(sent[0].1, GossipMessage::Refused { reason } if reason.contains("rate limit")),
        "the one token went to the bad join"
    );
    assert_eq!(boot.counters().joins_rate_limited, 1);
}

#[test]
fn a_ping_is_acked_with_the_same_probe_id_and_piggybacked_updates() {
    let mut node = started(2, &[1]);
    let effects = step(
        &mut node,
        Duration::from_millis(5),
        Input::Message {
            from: NodeId(1),
            message: GossipMessage::Ping {
                probe: 77,
                updates: vec![],
            },
        },
    );
    let sent = sends(&effects);
    let [(to, GossipMessage::Ack { probe: 77, updates })] = sent.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(*to, NodeId(1));
    assert_eq!(updates[0].subject, NodeId(2), "its own Alive rides along");
}

#[test]
fn a_suspicion_of_this_node_is_refuted_with_a_higher_incarnation() {
    let mut boot = started(1, &[]);
    let (two, j) = join_of(2, 2, GOSSIP_VERSION);
    join(&mut boot, 2, j.clone());
    let mut node = boot_node(2, &test_config(&[1]), &[], 1);
    node.identity = two;
    start(&mut node);
    step(
        &mut node,
        Duration::ZERO,
        Input::Message {
            from: NodeId(1),
            message: GossipMessage::Welcome {
                updates: vec![boot.my_alive()],
            },
        },
    );
    let suspect = Update::signed(&boot.identity, NodeId(2), 0, Fact::Suspect, NodeId(1));
    let effects = step(
        &mut node,
        Duration::from_millis(5),
        Input::Message {
            from: NodeId(1),
            message: GossipMessage::Ping {
                probe: 1,
                updates: vec![suspect],
            },
        },
    );
    assert_eq!(node.incarnation(), 1);
    let sent = sends(&effects);
    let [(_, GossipMessage::Ack { updates, .. })] = sent.as_slice() else {
        panic!()
    };
    assert!(updates.iter().any(|u| u.subject == NodeId(2)
        && u.incarnation == 1
        && matches!(u.fact, Fact::Alive { .. })));
    // An unsigned claim does not move the incarnation.
    let mut forged = Update::signed(&boot.identity, NodeId(2), 50, Fact::Dead, NodeId(1));
    forged.incarnation = 60;
    step(
        &mut node,
        Duration::from_millis(6),
        Input::Message {
            from: NodeId(1),
            message: GossipMessage::Ping {
                probe: 2,
                updates: vec![forged],
            },
        },
    );
    assert_eq!(node.incarnation(), 1);
    assert_eq!(node.counters().signature_rejects, 1);
}

#[test]
fn an_unanswered_probe_asks_k_peers_then_suspects() {
    let mut boot = started(1, &[]);
    for id in 2..=5 {
        let (_, j) = join_of(id, u64::from(id), GOSSIP_VERSION);
        join(&mut boot, id, j);
    }
    let mut ping = None;
    let mut t = Duration::ZERO;
    while ping.is_none() {
        t += Duration::from_millis(20);
        let effects = step(&mut boot, t, Input::Tick);
        ping = sends(&effects)
            .into_iter()
            .find_map(|(to, m)| matches!(m, GossipMessage::Ping { .. }).then_some(to));
    }
    let target = ping.unwrap();
    let effects = step(&mut boot, t + Duration::from_millis(80), Input::Tick);
    let helpers: Vec<NodeId> = sends(&effects)
        .into_iter()
        .filter(|(_, m)| matches!(m, GossipMessage::PingReq { target: x, .. } if *x == target))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(helpers.len(), 3, "k = indirect_probes = 3");
    assert!(!helpers.contains(&target));
    step(&mut boot, t + Duration::from_millis(200), Input::Tick);
    assert_eq!(boot.state_of(target), Some(MemberState::Suspect));
    step(&mut boot, t + Duration::from_millis(1_220), Input::Tick);
    assert_eq!(boot.state_of(target), Some(MemberState::Dead));
}

#[test]
fn a_duplicate_broadcast_prunes_its_sender_and_is_not_redelivered() {
    let mut node = started(2, &[1]);
    let origin = Identity::generate(&mut ChaCha8Rng::seed_from_u64(9));
    let message = Broadcast::new(&origin, NodeId(7), (1, 1), b"x".to_vec());
    let gossip = |from| Input::Message {
        from: NodeId(from),
        message: GossipMessage::Gossip {
            message: message.clone(),
            hops: 1,
        },
    };
    step(&mut node, Duration::ZERO, gossip(1));
    assert_eq!(node.plumtree().delivered(), 1);
    let effects = step(&mut node, Duration::ZERO, gossip(1));
    assert_eq!(node.plumtree().delivered(), 1);
    assert!(matches!(
        sends(&effects).as_slice(),
        [(NodeId(1), GossipMessage::Prune)]
    ));
    assert_eq!(node.counters().duplicates, 1);
    assert!(node.plumtree().lazy.contains(&NodeId(1)));
}

#[test]
fn a_tampered_broadcast_is_dropped_and_counted() {
    let mut node = started(2, &[1]);
    let origin = Identity::generate(&mut ChaCha8Rng::seed_from_u64(9));
    let mut message = Broadcast::new(&origin, NodeId(7), (1, 1), b"x".to_vec());
    message.payload = b"y".to_vec();
    step(
        &mut node,
        Duration::ZERO,
        Input::Message {
            from: NodeId(1),
            message: GossipMessage::Gossip { message, hops: 1 },
        },
    );
    assert_eq!(
        (
            node.plumtree().delivered(),
            node.counters().signature_rejects
        ),
        (0, 1)
    );
}

#[test]
fn an_ihave_for_an_unseen_message_grafts_after_the_timeout() {
    let mut node = started(2, &[1]);
    let id = crate::MessageId(42);
    step(
        &mut node,
        Duration::ZERO,
        Input::Message {
            from: NodeId(1),
            message: GossipMessage::IHave { ids: vec![(id, 1)] },
        },
    );
    let early = step(&mut node, Duration::from_millis(50), Input::Tick);
    assert!(!sends(&early)
        .iter()
        .any(|(_, m)| matches!(m, GossipMessage::Graft { ids } if !ids.is_empty())));
    let due = step(&mut node, Duration::from_millis(100), Input::Tick);
    assert!(sends(&due)
        .iter()
        .any(|(to, m)| *to == NodeId(1)
            && matches!(m, GossipMessage::Graft { ids } if ids == &vec![id])));
}

#[test]
fn oversized_messages_and_payloads_are_refused_with_a_reason() {
    let mut node = started(2, &[1]);
    let ids = vec![(crate::MessageId(1), 0); crate::message::IDS_PER_MESSAGE_MAX + 1];
    step(
        &mut node,
        Duration::ZERO,
        Input::Message {
            from: NodeId(1),
            message: GossipMessage::IHave { ids },
        },
    );
    assert_eq!(node.counters().over_limit_messages, 1);
    let big = "x".repeat(node.config().payload_bytes_max + 1);
    let effects = step(
        &mut node,
        Duration::ZERO,
        Input::Request {
            id: RequestId(1),
            request: GossipRequest::Broadcast { payload: big },
        },
    );
    assert!(matches!(
        &effects[0],
        Effect::Reply {
            reply: GossipReply::Error { code: 413, .. },
            ..
        }
    ));
}

#[test]
fn messages_page_in_order_and_trace_needs_a_beacon() {
    let mut node = started(1, &[]);
    for n in 0..3 {
        step(
            &mut node,
            Duration::ZERO,
            Input::Request {
                id: RequestId(n),
                request: GossipRequest::Broadcast {
                    payload: n.to_string(),
                },
            },
        );
    }
    // Shown once their records are durable (the driver confirms in order).
    step(&mut node, Duration::ZERO, Input::Persisted { token: 4 });
    let GossipReply::Messages {
        messages,
        next_after,
    } = node.messages_page(1, 1)
    else {
        panic!()
    };
    assert_eq!(
        (messages.len(), messages[0].payload.as_str(), next_after),
        (1, "1", 2)
    );
    assert!(matches!(
        node.trace_view("00"),
        GossipReply::Error { code: 409, .. }
    ));
}

/// Issue 7: the application sees a delivery only once its record is
/// durable. A crash before that loses the record and the delivery with it;
/// the restarted node delivers the next copy, and the application sees the
/// message once in all.
#[test]
fn a_delivery_is_shown_only_once_its_record_is_durable() {
    let config = test_config(&[]);
    let mut disk: Vec<Vec<u8>> = Vec::new();
    let keep = |disk: &mut Vec<Vec<u8>>, effects: &[Effect<Gossip>]| -> Vec<u64> {
        let mut tokens = Vec::new();
        for effect in effects {
            if let Effect::Persist { token, write } = effect {
                apply_write(disk, write);
                tokens.push(*token);
            }
        }
        tokens
    };
    let origin = Identity::generate(&mut ChaCha8Rng::seed_from_u64(77));
    let gossip = GossipMessage::Gossip {
        message: Broadcast::new(&origin, NodeId(1), (5, 5), b"once".to_vec()),
        hops: 1,
    };
    let shown = |node: &Gossip| {
        let GossipReply::Messages { messages, .. } = node.messages_page(0, 16) else {
            unreachable!()
        };
        messages.len()
    };
    let arrive = |node: &mut Gossip| {
        let message = Input::Message {
            from: NodeId(1),
            message: gossip.clone(),
        };
        step(node, Duration::from_millis(30), message)
    };

    let mut node = boot_node(2, &config, &disk, 1);
    let started = step(&mut node, Duration::ZERO, Input::Start);
    keep(&mut disk, &started);
    step(&mut node, Duration::ZERO, Input::Persisted { token: 1 });
    let effects = arrive(&mut node);
    let tokens: Vec<u64> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist { token, .. } => Some(*token),
            _ => None,
        })
        .collect();
    assert_eq!(tokens.len(), 1, "one delivery record: {effects:?}");
    assert_eq!(node.plumtree().delivered(), 1);
    assert_eq!(shown(&node), 0, "not shown before its record is durable");

    // Crash now: the record never reached the disk.
    let mut node = boot_node(2, &config, &disk, 2);
    let started = step(&mut node, Duration::ZERO, Input::Start);
    keep(&mut disk, &started);
    step(&mut node, Duration::ZERO, Input::Persisted { token: 1 });
    let effects = arrive(&mut node);
    let tokens = keep(&mut disk, &effects);
    assert_eq!(shown(&node), 0);
    step(
        &mut node,
        Duration::from_millis(31),
        Input::Persisted { token: tokens[0] },
    );
    assert_eq!(shown(&node), 1, "shown once durable");

    // Crash after it was shown: the restarted node knows it delivered it.
    let mut node = boot_node(2, &config, &disk, 3);
    step(&mut node, Duration::ZERO, Input::Start);
    step(&mut node, Duration::ZERO, Input::Persisted { token: 1 });
    let effects = arrive(&mut node);
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Persist { .. })),
        "no second delivery: {effects:?}"
    );
    assert_eq!(node.counters().duplicates, 1);
    assert_eq!(node.plumtree().delivered(), 1, "numbering continues");
}

/// Issue 7: the core never solves the proof of work in a step. It waits,
/// says what it wants in its status, checks the nonce handed in, then joins.
#[test]
fn the_proof_of_work_is_handed_in_by_the_driver_and_checked() {
    let mut config = test_config(&[1]);
    config.pow_difficulty_bits = 10;
    let mut node = boot_node(2, &config, &[], 1);
    step(&mut node, Duration::ZERO, Input::Start);
    let effects = step(&mut node, Duration::ZERO, Input::Persisted { token: 1 });
    assert!(
        !sends(&effects)
            .iter()
            .any(|(_, m)| matches!(m, GossipMessage::Join(_))),
        "no join without a proof of work: {effects:?}"
    );
    let wanted = node.status().pow_wanted.expect("asks the driver for one");
    assert_eq!(wanted.bits, 10);
    let key = crate::identity::PublicKey::from_hex(&wanted.key).unwrap();
    assert_eq!(key, node.public_key());

    let bad = (0..)
        .find(|n| !crate::identity::pow_valid(&key, *n, 10))
        .unwrap();
    let request = |nonce| Input::Request {
        id: RequestId(9),
        request: GossipRequest::ProofOfWork { nonce },
    };
    let effects = step(&mut node, Duration::from_millis(5), request(bad));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Reply {
            reply: GossipReply::Error { code: 400, .. },
            ..
        }
    )));
    assert!(
        node.status().pow_wanted.is_some(),
        "a bad nonce changes nothing"
    );

    let nonce = crate::identity::pow_solve(&key, 10);
    let effects = step(&mut node, Duration::from_millis(6), request(nonce));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Reply {
            reply: GossipReply::ProofOfWorkAccepted,
            ..
        }
    )));
    let joins: Vec<u64> = sends(&effects)
        .iter()
        .filter_map(|(to, m)| match m {
            GossipMessage::Join(j) if *to == NodeId(1) => Some(j.pow_nonce),
            _ => None,
        })
        .collect();
    assert_eq!(joins, vec![nonce], "joins at once with the solution");
    assert!(node.status().pow_wanted.is_none());
}

/// Issue 7 (long sweep seed 82): once the bounded seen-cache forgets a
/// delivered id, a late copy (a paused peer's backlog, the answer to a
/// graft) must not be delivered again. The origin's floor, raised to the
/// forgotten message's stamp, refuses it, and older ones of that origin
/// with it; a later message that overtook an earlier one still delivers.
#[test]
fn a_copy_older_than_the_seen_cache_is_not_delivered_again() {
    let config = GossipConfig {
        seen_max: 2,
        messages_max: 1,
        ..test_config(&[1])
    };
    let mut node = boot_node(2, &config, &[], 1);
    start(&mut node);
    let origin = Identity::generate(&mut ChaCha8Rng::seed_from_u64(9));
    let stamped = |count: u64| {
        let stamp = crate::floors::stamp(3, count).unwrap();
        Broadcast::new(
            &origin,
            NodeId(7),
            (stamp, 0),
            format!("m{count}").into_bytes(),
        )
    };
    let arrive = |node: &mut Gossip, from: u16, message: Broadcast| {
        let message = GossipMessage::Gossip { message, hops: 1 };
        let input = Input::Message {
            from: NodeId(from),
            message,
        };
        step(node, Duration::from_millis(10), input)
    };
    for count in [2, 3, 5] {
        arrive(&mut node, 1, stamped(count));
    }
    assert_eq!(node.plumtree().delivered(), 3);
    assert!(!node.plumtree().seen(stamped(2).id), "forgotten");

    arrive(&mut node, 1, stamped(2));
    arrive(&mut node, 1, stamped(1));
    assert_eq!(
        (node.plumtree().delivered(), node.counters().stale_rejects),
        (3, 2),
        "the forgotten message and an older one of its origin are refused"
    );
    assert_eq!(
        node.counters().duplicates,
        0,
        "not in the cache: not a duplicate"
    );

    // A graft for a forgotten id is answered with a stale copy: it is
    // dropped and the id is no longer awaited from anyone else.
    let ihave = |from: u16| Input::Message {
        from: NodeId(from),
        message: GossipMessage::IHave {
            ids: vec![(stamped(2).id, 1)],
        },
    };
    step(&mut node, Duration::from_millis(20), ihave(3));
    step(&mut node, Duration::from_millis(20), ihave(4));
    assert_eq!(node.plumtree().missing_len(), 1);
    arrive(&mut node, 3, stamped(2));
    assert_eq!(node.plumtree().missing_len(), 0);

    arrive(&mut node, 1, stamped(4));
    assert_eq!(
        node.plumtree().delivered(),
        4,
        "above the floor, though after a later one: delivered"
    );
}

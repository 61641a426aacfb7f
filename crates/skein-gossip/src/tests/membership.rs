//! The membership table's precedence, identity and limit rules.
use crate::identity::Identity;
use crate::membership::*;
use crate::message::{Fact, Update};
use rand::SeedableRng;
use skein_core::{NodeId, PeerAddress};
use std::time::Duration;

fn identity(seed: u64) -> Identity {
    Identity::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed))
}

fn alive(who: &Identity, id: u16, inc: u64, host: &str) -> Update {
    let fact = Fact::Alive {
        key: who.public(),
        address: PeerAddress(format!("{id}@{host}:5000:7000")),
        version: crate::GOSSIP_VERSION,
        beacon: false,
    };
    Update::signed(who, NodeId(id), inc, fact, NodeId(id))
}

#[test]
fn alive_suspect_refute_dead_follow_precedence() {
    let me = identity(1);
    let two = identity(2);
    let mut table = Membership::new(NodeId(1), 10, 10);
    let t = Duration::from_secs(1);
    let a0 = alive(&two, 2, 0, "10.0.0.2");
    assert_eq!(
        table.apply(&a0, &me.public(), t).unwrap().after,
        MemberState::Alive
    );
    assert_eq!(table.apply(&a0, &me.public(), t), Err(Rejection::Stale));
    let s0 = Update::signed(&me, NodeId(2), 0, Fact::Suspect, NodeId(1));
    assert_eq!(
        table.apply(&s0, &me.public(), t).unwrap().after,
        MemberState::Suspect
    );
    let a1 = alive(&two, 2, 1, "10.0.0.2");
    let change = table.apply(&a1, &me.public(), t).unwrap();
    assert_eq!(
        (change.before, change.after),
        (Some(MemberState::Suspect), MemberState::Alive)
    );
    let d0 = Update::signed(&me, NodeId(2), 0, Fact::Dead, NodeId(1));
    assert_eq!(
        table.apply(&d0, &me.public(), t),
        Err(Rejection::Stale),
        "refuted at 1"
    );
    let d1 = Update::signed(&me, NodeId(2), 1, Fact::Dead, NodeId(1));
    assert_eq!(
        table.apply(&d1, &me.public(), t).unwrap().after,
        MemberState::Dead
    );
}

#[test]
fn another_key_cannot_take_a_bound_id() {
    let me = identity(1);
    let mut table = Membership::new(NodeId(1), 10, 10);
    table
        .apply(
            &alive(&identity(2), 2, 0, "10.0.0.2"),
            &me.public(),
            Duration::ZERO,
        )
        .unwrap();
    let forged = alive(&identity(99), 2, 7, "10.0.0.9");
    assert!(matches!(
        table.apply(&forged, &me.public(), Duration::ZERO),
        Err(Rejection::IdentityConflict { .. })
    ));
}

#[test]
fn only_the_subject_may_announce_or_leave() {
    let me = identity(1);
    let two = identity(2);
    let mut table = Membership::new(NodeId(1), 10, 10);
    table
        .apply(&alive(&two, 2, 0, "10.0.0.2"), &me.public(), Duration::ZERO)
        .unwrap();
    let left_by_me = Update::signed(&me, NodeId(2), 0, Fact::Left, NodeId(1));
    assert_eq!(
        table.apply(&left_by_me, &me.public(), Duration::ZERO),
        Err(Rejection::BadSignature)
    );
    let mut tampered = Update::signed(&two, NodeId(2), 1, Fact::Left, NodeId(2));
    tampered.incarnation = 2;
    assert_eq!(
        table.apply(&tampered, &me.public(), Duration::ZERO),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn subnet_and_table_limits_hold() {
    let me = identity(1);
    let mut table = Membership::new(NodeId(1), 3, 2);
    table
        .apply(
            &alive(&identity(2), 2, 0, "10.0.0.2"),
            &me.public(),
            Duration::ZERO,
        )
        .unwrap();
    table
        .apply(
            &alive(&identity(3), 3, 0, "10.0.0.3"),
            &me.public(),
            Duration::ZERO,
        )
        .unwrap();
    let third = alive(&identity(4), 4, 0, "10.0.0.4");
    assert_eq!(
        table.apply(&third, &me.public(), Duration::ZERO),
        Err(Rejection::Full("members_per_subnet_max"))
    );
    table
        .apply(
            &alive(&identity(5), 5, 0, "10.0.1.5"),
            &me.public(),
            Duration::ZERO,
        )
        .unwrap();
    let fourth = alive(&identity(6), 6, 0, "10.0.2.6");
    assert_eq!(
        table.apply(&fourth, &me.public(), Duration::ZERO),
        Err(Rejection::Full("members_max"))
    );
}

#[test]
fn dead_members_expire_but_keep_their_binding() {
    let me = identity(1);
    let two = identity(2);
    let mut table = Membership::new(NodeId(1), 10, 10);
    table
        .apply(&alive(&two, 2, 0, "10.0.0.2"), &me.public(), Duration::ZERO)
        .unwrap();
    let dead = Update::signed(&me, NodeId(2), 0, Fact::Dead, NodeId(1));
    table
        .apply(&dead, &me.public(), Duration::from_secs(1))
        .unwrap();
    assert!(table
        .expire(Duration::from_secs(5), Duration::from_secs(10))
        .is_empty());
    assert_eq!(
        table.expire(Duration::from_secs(11), Duration::from_secs(10)),
        vec![NodeId(2)]
    );
    assert_eq!(table.bindings().get(&NodeId(2)), Some(&two.public()));
}

#[test]
fn subnets_group_v4_by_24_and_v6_by_64() {
    let s = |a: &str| subnet_of(&PeerAddress(a.into()));
    assert_eq!(s("2@10.1.2.3:5002:7002"), s("9@10.1.2.200:5009:7009"));
    assert_ne!(s("2@10.1.2.3:5002:7002"), s("2@10.1.3.3:5002:7002"));
    assert_eq!(s("2@[fd00:1:2:3::5]:1:2"), s("3@[fd00:1:2:3::9]:1:2"));
    assert_ne!(s("sim:1"), s("sim:2"));
}

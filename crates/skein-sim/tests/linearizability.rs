//! The checker accepts linearizable histories and rejects the classic
//! non-linearizable ones, with and without unknown outcomes.

use proptest::prelude::*;
use skein_sim::lin::{
    check, CheckLimits, KvInput, KvModel, KvOutput, LinVerdict, ListInput, ListModel, ListOutput,
    Model, Operation,
};

type KvOp = Operation<KvInput, KvOutput>;

fn put(client: u32, value: u64, from: u64, to: u64) -> KvOp {
    Operation::ok(client, KvInput::Put(0, value), KvOutput::Ok, from, to)
}

fn get(client: u32, value: Option<u64>, from: u64, to: u64) -> KvOp {
    Operation::ok(client, KvInput::Get(0), KvOutput::Value(value), from, to)
}

fn put_unknown(client: u32, value: u64, from: u64) -> KvOp {
    Operation::unknown(client, KvInput::Put(0, value), from)
}

fn kv(ops: &[KvOp]) -> LinVerdict {
    check(&KvModel, ops, CheckLimits::default())
}

#[test]
fn sequential_and_overlapping_histories_pass() {
    assert!(kv(&[]).is_linearizable());
    assert!(kv(&[put(1, 1, 0, 10), get(2, Some(1), 20, 30)]).is_linearizable());
    // A read overlapping a write may see either value.
    assert!(kv(&[
        put(1, 1, 0, 100),
        get(2, None, 10, 20),
        get(3, Some(1), 30, 40)
    ])
    .is_linearizable());
    assert!(kv(&[
        put(1, 1, 0, 100),
        get(2, Some(1), 10, 20),
        get(2, Some(1), 30, 40)
    ])
    .is_linearizable());
    // Touching intervals count as overlapping.
    assert!(kv(&[put(1, 1, 0, 10), get(2, None, 10, 20)]).is_linearizable());
}

#[test]
fn stale_read_after_a_completed_write_fails() {
    let v = kv(&[put(1, 1, 0, 10), get(2, None, 20, 30)]);
    let LinVerdict::NotLinearizable(cx) = v else {
        panic!("accepted a stale read: {v:?}")
    };
    assert_eq!(cx.ops.len(), 2, "{cx:?}");
}

#[test]
fn a_value_once_read_cannot_be_unread() {
    // New-old inversion: during one write, a read sees it, a later read does not.
    let v = kv(&[
        put(1, 1, 0, 100),
        get(2, Some(1), 10, 20),
        get(3, None, 30, 40),
    ]);
    assert!(!v.is_linearizable(), "{v:?}");
}

#[test]
fn two_readers_seeing_two_writes_in_opposite_orders_fail() {
    let ops = [
        put(1, 1, 0, 100),
        put(2, 2, 0, 100),
        get(3, Some(1), 10, 20),
        get(3, Some(2), 30, 40),
        get(4, Some(2), 10, 20),
        get(4, Some(1), 30, 40),
    ];
    assert!(!kv(&ops).is_linearizable());
    // One reader alone may see them in either order.
    assert!(kv(&ops[..4]).is_linearizable());
}

#[test]
fn reading_a_value_nobody_wrote_fails() {
    assert!(!kv(&[put(1, 1, 0, 10), get(2, Some(9), 0, 30)]).is_linearizable());
}

#[test]
fn unknown_writes_may_or_may_not_take_effect() {
    // Seen late: it took effect.
    assert!(kv(&[put_unknown(1, 1, 0), get(2, Some(1), 50, 60)]).is_linearizable());
    // Never seen: it did not.
    assert!(kv(&[put_unknown(1, 1, 0), get(2, None, 50, 60)]).is_linearizable());
    // Not seen, then seen: it took effect in between.
    assert!(kv(&[
        put_unknown(1, 1, 0),
        get(2, None, 5, 6),
        get(2, Some(1), 50, 60)
    ])
    .is_linearizable());
    // Seen, then not seen: impossible however it went.
    assert!(!kv(&[
        put_unknown(1, 1, 0),
        get(2, Some(1), 5, 6),
        get(2, None, 50, 60)
    ])
    .is_linearizable());
    // It cannot take effect before it was invoked.
    assert!(!kv(&[get(2, Some(1), 5, 6), put_unknown(1, 1, 10)]).is_linearizable());
}

#[test]
fn keys_are_checked_independently() {
    let ops = [
        Operation::ok(1, KvInput::Put(1, 5), KvOutput::Ok, 0, 10),
        Operation::ok(2, KvInput::Get(2), KvOutput::Value(None), 20, 30),
        Operation::ok(2, KvInput::Get(1), KvOutput::Value(Some(5)), 40, 50),
    ];
    assert!(matches!(
        kv(&ops),
        LinVerdict::Linearizable { partitions: 2, .. }
    ));
}

#[test]
fn list_reads_must_agree_on_one_order() {
    let append = |c, x, a, b| Operation::ok(c, ListInput::Append(x), ListOutput::Ok, a, b);
    let read = |c, xs: &[u64], a, b| {
        Operation::ok(c, ListInput::Read, ListOutput::List(xs.to_vec()), a, b)
    };
    let ok = [
        append(1, 1, 0, 100),
        append(2, 2, 0, 100),
        read(3, &[2], 10, 20),
        read(4, &[2, 1], 30, 40),
    ];
    assert!(check(&ListModel, &ok, CheckLimits::default()).is_linearizable());
    let bad = [
        append(1, 1, 0, 100),
        append(2, 2, 0, 100),
        read(3, &[1, 2], 110, 120),
        read(4, &[2, 1], 110, 120),
    ];
    assert!(!check(&ListModel, &bad, CheckLimits::default()).is_linearizable());
    let lost = [append(1, 1, 0, 10), read(2, &[], 20, 30)];
    assert!(!check(&ListModel, &lost, CheckLimits::default()).is_linearizable());
}

#[test]
fn a_violation_buried_in_a_long_history_shrinks_to_a_small_window() {
    // 400 correct sequential operations, then one stale read, then 100 more.
    let mut ops = Vec::new();
    let mut t = 0;
    let mut value = 0;
    for i in 0..500u64 {
        if i == 400 {
            ops.push(get(9, Some(value - 1), t, t + 5)); // stale
        } else if i % 2 == 0 {
            value += 1;
            ops.push(put((i % 3) as u32, value, t, t + 5));
        } else {
            ops.push(get((i % 3) as u32, Some(value), t, t + 5));
        }
        t += 10;
    }
    let LinVerdict::NotLinearizable(cx) = kv(&ops) else {
        panic!("missed the stale read")
    };
    let known = cx.ops.iter().filter(|l| !l.ends_with("-> ?")).count();
    assert!(known <= 3, "window not minimal: {cx:#?}");
    assert!(cx.ops.iter().any(|l| l.contains("client 9")), "{cx:#?}");
    assert!(
        cx.end_us <= 4_005,
        "window ends after the violation: {cx:#?}"
    );
}

#[test]
fn a_search_budget_makes_the_verdict_inconclusive_not_wrong() {
    let ops: Vec<KvOp> = (0..10u64)
        .map(|i| put(1, i + 1, 10 * i, 10 * i + 5))
        .collect();
    let limits = CheckLimits {
        search_steps_max: 3,
        ..CheckLimits::default()
    };
    assert!(matches!(
        check(&KvModel, &ops, limits),
        LinVerdict::Inconclusive(_)
    ));
    assert!(kv(&ops).is_linearizable());
}

/// Histories made by a correct register: each op takes effect at a random
/// point inside its interval.
fn linearizable_history(plan: &[(bool, u64, u64)]) -> Vec<KvOp> {
    let mut points: Vec<(u64, usize)> = plan
        .iter()
        .enumerate()
        .map(|(i, &(_, start, len))| (start + len / 2, i))
        .collect();
    points.sort();
    let mut state = KvModel.init();
    let mut ops = vec![None; plan.len()];
    for (_, i) in points {
        let (is_put, start, len) = plan[i];
        let input = if is_put {
            KvInput::Put(0, i as u64 + 1)
        } else {
            KvInput::Get(0)
        };
        let (next, out) = KvModel.apply(&state, &input);
        state = next;
        ops[i] = Some(Operation::ok(i as u32, input, out, start, start + len));
    }
    ops.into_iter().flatten().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn histories_of_a_correct_register_are_accepted(plan in prop::collection::vec((any::<bool>(), 0u64..1_000, 1u64..200), 1..60)) {
        let ops = linearizable_history(&plan);
        prop_assert!(kv(&ops).is_linearizable());
    }
}

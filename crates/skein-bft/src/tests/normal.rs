//! Normal case: a stable view, appends agree at every replica.

use super::harness::{config, Cluster};
use crate::{Op, View};

#[test]
fn cluster_converges_to_view_zero_from_boot() {
    let mut c = Cluster::new(6, config(), 1);
    assert!(
        c.run_until(200, |c| c.stable_view().is_some()),
        "no stable view"
    );
    assert_eq!(c.stable_view(), Some(View::V(0)));
}

#[test]
fn normal_case_appends_agree_at_all_replicas() {
    let mut c = Cluster::new(6, config(), 2);
    assert!(c.run_until(200, |c| c.stable_view().is_some()));
    let mut ids = Vec::new();
    for x in 1..=10 {
        ids.push(c.submit(0, x as u64, Op::Append(x)));
        c.run_ticks(1);
    }
    let want: Vec<i64> = (1..=10).collect();
    assert!(
        c.run_until(300, |c| c.all_correct_have(&want)),
        "lists: {:?}",
        (0..6).map(|k| c.list(k).to_vec()).collect::<Vec<_>>()
    );
    c.check_safety().unwrap();
    for r in &ids {
        assert!(c.replied(r) >= 2, "f+1 replies for every request");
    }
}

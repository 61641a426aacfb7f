//! The raft core on the runtime's real record log: a crash that tears or
//! corrupts the last record loses only that unconfirmed write, a corrupt
//! record in the middle refuses to open, and a node recovers its log and
//! snapshot after a restart (then re-commits as the only voter).
//!
//! The driver here is the smallest one that is faithful for one node: each
//! `Persist` is written with `RecordLog::write` before `Persisted` is fed,
//! the one timer that matters (the election) is fired by hand.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_core::{Boot, Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId};
use skein_node::storage::{RecordLog, StorageError};
use skein_raft::{Raft, RaftConfig, Reply, Request, Role};
use std::path::Path;
use std::time::Duration;

struct OneNode {
    raft: Raft,
    log: RecordLog,
    now: Duration,
    replies: Vec<(RequestId, Reply)>,
    next_request: u64,
}

impl OneNode {
    fn open(dir: &Path, config: &RaftConfig) -> Result<OneNode, StorageError> {
        let (log, records) = RecordLog::open(dir)?;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let raft = Raft::boot(Boot {
            id: NodeId(1),
            address: &PeerAddress("1@127.0.0.1:5001:7001".into()),
            members: &[NodeId(1)],
            config,
            persisted: &records,
            now: Duration::ZERO,
            rng: &mut rng,
        });
        let mut node = OneNode {
            raft,
            log,
            now: Duration::ZERO,
            replies: Vec::new(),
            next_request: 0,
        };
        node.step(Input::Start);
        Ok(node)
    }

    fn step(&mut self, input: Input<Raft>) {
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            self.now += Duration::from_millis(1);
            let mut rng = ChaCha8Rng::seed_from_u64(self.now.as_millis() as u64);
            let mut effects = Vec::new();
            let mut ctx = Context::new(NodeId(1), self.now, &mut rng, &mut effects);
            self.raft.step(&mut ctx, input);
            for effect in effects {
                match effect {
                    Effect::Persist { token, write } => {
                        self.log.write(&write).expect("the disk works");
                        inputs.insert(0, Input::Persisted { token });
                    }
                    Effect::Reply { request, reply } => self.replies.push((request, reply)),
                    _ => {}
                }
            }
        }
    }

    /// Fires the election timer until this single voter leads.
    fn lead(&mut self) {
        for _ in 0..4 {
            if self.raft.role() == Role::Leader {
                return;
            }
            self.now += Duration::from_secs(1);
            self.step(Input::Timer(skein_raft::TIMER_ELECTION));
        }
        assert_eq!(
            self.raft.role(),
            Role::Leader,
            "a single voter elects itself"
        );
    }

    fn put(&mut self, key: &str, value: &str) -> u64 {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let request = Request::Put {
            key: key.into(),
            value: value.into(),
        };
        self.step(Input::Request { id, request });
        match self.replies.iter().find(|(r, _)| *r == id) {
            Some((_, Reply::Written { revision })) => *revision,
            other => panic!("put {key}: {other:?}"),
        }
    }

    fn value(&self, key: &str) -> Option<String> {
        match self.raft.kv().get(key) {
            Reply::Value { value, .. } => value,
            other => panic!("get {key}: {other:?}"),
        }
    }
}

/// The segment appends go to (the log's last one).
fn log_file(dir: &Path) -> std::path::PathBuf {
    RecordLog::segment_paths(dir).unwrap().pop().unwrap()
}

#[test]
fn a_torn_or_corrupt_last_record_loses_only_that_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = RaftConfig::default();
    let mut node = OneNode::open(dir.path(), &config).unwrap();
    node.lead();
    for i in 0..10 {
        node.put(&format!("k{i}"), &format!("v{i}"));
    }
    let before_last = std::fs::metadata(log_file(dir.path())).unwrap().len();
    node.put("last", "torn");
    drop(node);

    // Tear the last record: the crash came mid-append, before `Persisted`.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(log_file(dir.path()))
        .unwrap();
    let full = file.metadata().unwrap().len();
    file.set_len(before_last + (full - before_last) / 2)
        .unwrap();
    drop(file);
    let mut node = OneNode::open(dir.path(), &config).unwrap();
    assert!(node.log.truncated_bytes > 0, "the torn tail is cut");
    node.lead();
    for i in 0..10 {
        assert_eq!(node.value(&format!("k{i}")), Some(format!("v{i}")));
    }
    assert_eq!(node.value("last"), None, "the torn write is gone");
    node.put("after", "1");
    drop(node);

    // Flip a byte of the last record: a bad checksum at the end is a torn write too.
    let mut bytes = std::fs::read(log_file(dir.path())).unwrap();
    let end = bytes.len() - 1;
    bytes[end] ^= 0xff;
    std::fs::write(log_file(dir.path()), &bytes).unwrap();
    let mut node = OneNode::open(dir.path(), &config).unwrap();
    node.lead();
    assert_eq!(node.value("k9"), Some("v9".into()));
    assert_eq!(node.value("after"), None);
    drop(node);

    // A corrupt record with intact ones after it is not a crash: refuse.
    let mut bytes = std::fs::read(log_file(dir.path())).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(log_file(dir.path()), &bytes).unwrap();
    match OneNode::open(dir.path(), &config) {
        Err(StorageError::Corrupt { index, .. }) => assert!(index <= 1, "{index}"),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a corrupt middle must refuse to open"),
    }
}

#[test]
fn a_restart_after_snapshots_recovers_the_snapshot_and_the_entries_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = RaftConfig {
        snapshot_log_entries: 8,
        ..RaftConfig::default()
    };
    let mut node = OneNode::open(dir.path(), &config).unwrap();
    node.lead();
    let mut last = 0;
    for i in 0..30 {
        last = node.put(&format!("k{i:02}"), &format!("v{i}"));
    }
    let snapshot = node.raft.status().snapshot_index;
    assert!(snapshot >= 24, "snapshots were taken: {snapshot}");
    drop(node);

    let mut node = OneNode::open(dir.path(), &config).unwrap();
    let status = node.raft.status();
    assert_eq!(status.snapshot_index, snapshot);
    assert_eq!(
        status.last_log_index, last,
        "entries after the snapshot kept"
    );
    node.lead();
    for i in 0..30 {
        assert_eq!(node.value(&format!("k{i:02}")), Some(format!("v{i}")));
    }
}

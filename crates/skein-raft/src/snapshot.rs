//! Snapshots and log compaction (Raft §7, thesis §5): a node snapshots its
//! state machine once the log passes `snapshot_log_entries`, and a leader
//! sends its snapshot in chunks to followers that lag behind its log.
//!
//! The snapshot is persisted with `StorageWrite::Replace` as one record that
//! also holds term, vote and the entries after the snapshot, so the durable
//! state is replaced atomically.

use crate::config::SNAPSHOT_BYTES_MAX;
use crate::kv::Kv;
use crate::membership::MembershipLog;
use crate::message::{LogId, Message, Payload, SnapshotMeta};
use crate::progress::ProgressState;
use crate::raft::Raft;
use crate::storage::Record;
use skein_core::{Context, NodeId};

/// A snapshot being received, chunk by chunk.
#[derive(Clone, Debug)]
pub(crate) struct IncomingSnapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

impl Raft {
    pub(crate) fn maybe_snapshot(&mut self, ctx: &mut Context<'_, Self>) {
        let threshold = self.config.snapshot_log_entries.max(1);
        if self.applied_index - self.snapshot.last.index >= threshold {
            self.take_snapshot(ctx);
        }
    }

    /// Snapshots the state machine at the applied index and compacts the log.
    pub(crate) fn take_snapshot(&mut self, ctx: &mut Context<'_, Self>) {
        let index = self.applied_index;
        let term = self
            .log
            .term_at(index)
            .expect("applied entries are in the log");
        assert!(
            index <= self.commit_index,
            "only committed state is snapshotted"
        );
        let meta = SnapshotMeta {
            last: LogId::new(term, index),
            membership: self.memberships.at(index).clone(),
            digest: self.applied_digest,
        };
        self.log.compact_to(meta.last);
        self.memberships.compact_to(index);
        self.snapshot = meta;
        self.snapshot_data = self.kv.encode();
        self.persist_snapshot(ctx);
    }

    fn persist_snapshot(&mut self, ctx: &mut Context<'_, Self>) {
        let record = Record::Snapshot {
            term: self.term,
            voted_for: self.voted_for,
            meta: self.snapshot.clone(),
            data: self.snapshot_data.clone(),
            entries: self.log.entries().to_vec(),
        };
        self.persist(ctx, record);
    }

    pub(crate) fn start_snapshot(&mut self, ctx: &mut Context<'_, Self>, peer: NodeId) {
        let last_index = self.snapshot.last.index;
        if let Some(pr) = self.leader_mut().progress.get_mut(&peer) {
            pr.state = ProgressState::Snapshot {
                last_index,
                offset: 0,
            };
            pr.inflight.clear();
        }
        self.send_snapshot_chunk(ctx, peer);
    }

    /// Sends the chunk at the peer's offset; restarts if a newer snapshot exists.
    pub(crate) fn send_snapshot_chunk(&mut self, ctx: &mut Context<'_, Self>, peer: NodeId) {
        let now = self.now;
        let current = self.snapshot.last.index;
        let chunk = self.config.snapshot_chunk_bytes.max(1);
        let Some(pr) = self.leader_mut().progress.get_mut(&peer) else {
            return;
        };
        let ProgressState::Snapshot { last_index, offset } = pr.state else {
            return;
        };
        let offset = if last_index == current { offset } else { 0 };
        pr.state = ProgressState::Snapshot {
            last_index: current,
            offset,
        };
        pr.last_sent_at = now;
        let start = (offset as usize).min(self.snapshot_data.len());
        let end = (start + chunk).min(self.snapshot_data.len());
        let message = Message::InstallSnapshot {
            term: self.term,
            meta: self.snapshot.clone(),
            offset: start as u64,
            data: self.snapshot_data[start..end].to_vec(),
            done: end == self.snapshot_data.len(),
        };
        ctx.send(peer, message);
    }

    pub(crate) fn on_install_snapshot(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        done: bool,
    ) {
        self.accept_leader(ctx, from);
        let last_index = meta.last.index;
        if last_index <= self.commit_index {
            self.reply_snapshot(ctx, from, last_index, offset + data.len() as u64, true);
            return;
        }
        if offset == 0 {
            self.incoming = Some(IncomingSnapshot {
                meta: meta.clone(),
                data: Vec::new(),
            });
        }
        let expected = match &self.incoming {
            Some(inc) if inc.meta == meta => inc.data.len() as u64,
            _ => 0,
        };
        if offset != expected || expected + data.len() as u64 > SNAPSHOT_BYTES_MAX as u64 {
            if offset != expected {
                self.reply_snapshot(ctx, from, last_index, expected, false);
            }
            return;
        }
        let inc = self
            .incoming
            .as_mut()
            .expect("expected offset implies a snapshot");
        inc.data.extend_from_slice(&data);
        let received = inc.data.len() as u64;
        if !done {
            self.reply_snapshot(ctx, from, last_index, received, false);
            return;
        }
        let inc = self.incoming.take().expect("present");
        let Some(kv) = Kv::decode(&inc.data) else {
            return; // a garbled snapshot: drop it; the leader resends
        };
        self.install_snapshot(ctx, inc.meta, inc.data, kv);
        self.reply_snapshot(ctx, from, last_index, received, true);
    }

    fn reply_snapshot(
        &self,
        ctx: &mut Context<'_, Self>,
        to: NodeId,
        last_index: u64,
        next_offset: u64,
        done: bool,
    ) {
        let message = Message::SnapshotResponse {
            term: self.term,
            last_index,
            next_offset,
            done,
        };
        ctx.send(to, message);
    }

    /// Replaces the state machine with the snapshot, keeping log entries
    /// that follow it if the log holds its last entry (Figure 13 step 6).
    fn install_snapshot(
        &mut self,
        ctx: &mut Context<'_, Self>,
        meta: SnapshotMeta,
        data: Vec<u8>,
        kv: Kv,
    ) {
        assert!(
            meta.last.index > self.commit_index,
            "a snapshot never rolls back commits"
        );
        if self.log.term_at(meta.last.index) != Some(meta.last.term) {
            self.durability.truncated_from(self.commit_index + 1);
        }
        self.log.compact_to(meta.last);
        let mut memberships = MembershipLog::new(meta.last.index, meta.membership.clone());
        for entry in self.log.entries() {
            if let Payload::Config(m) = &entry.payload {
                memberships.push(entry.index, m.clone());
            }
        }
        self.memberships = memberships;
        self.commit_index = meta.last.index;
        self.applied_index = meta.last.index;
        self.applied_digest = meta.digest;
        self.verified_index = self.verified_index.max(meta.last.index);
        self.kv = kv;
        self.snapshot = meta;
        self.snapshot_data = data;
        self.persist_snapshot(ctx);
    }

    pub(crate) fn on_snapshot_response(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        last_index: u64,
        next_offset: u64,
        done: bool,
    ) {
        if !self.is_leader() {
            return;
        }
        let now = self.now;
        let Some(pr) = self.leader_mut().progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        let ProgressState::Snapshot {
            last_index: sending,
            ..
        } = pr.state
        else {
            return;
        };
        if sending != last_index {
            return;
        }
        if done {
            pr.match_index = pr.match_index.max(last_index);
            pr.reset_to_probe(now);
            self.maybe_commit(ctx);
            self.send_append(ctx, from);
        } else {
            pr.state = ProgressState::Snapshot {
                last_index,
                offset: next_offset,
            };
            self.send_snapshot_chunk(ctx, from);
        }
    }
}

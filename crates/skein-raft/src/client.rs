//! Client requests: validation, redirects, proposals with bounded queues.

use crate::config::{KEY_BYTES_MAX, PEER_ADDRESS_BYTES_MAX, VALUE_BYTES_MAX};
use crate::kv::KvCommand;
use crate::message::Payload;
use crate::raft::Raft;
use crate::request::{RaftError, Reply, Request};
use skein_core::{Context, RequestId};

/// Refuses keys and values over the documented limits before anything is done.
pub fn validate(request: &Request) -> Result<(), RaftError> {
    let (key, value) = match request {
        Request::Put { key, value } | Request::Cas { key, value, .. } => (key.len(), value.len()),
        Request::Get { key } | Request::Delete { key } => (key.len(), 0),
        Request::List {
            prefix,
            start_after,
            ..
        } => (
            prefix
                .len()
                .max(start_after.as_ref().map_or(0, String::len)),
            0,
        ),
        Request::AddMember {
            address: Some(address),
            ..
        }
        | Request::AddLearner {
            address: Some(address),
            ..
        } if address.0.len() > PEER_ADDRESS_BYTES_MAX => {
            return Err(RaftError::AddressTooLong {
                len: address.0.len(),
                max: PEER_ADDRESS_BYTES_MAX,
            })
        }
        _ => (0, 0),
    };
    if key > KEY_BYTES_MAX {
        return Err(RaftError::KeyTooLarge {
            len: key,
            max: KEY_BYTES_MAX,
        });
    }
    if value > VALUE_BYTES_MAX {
        return Err(RaftError::ValueTooLarge {
            len: value,
            max: VALUE_BYTES_MAX,
        });
    }
    Ok(())
}

impl Raft {
    pub(crate) fn on_request(
        &mut self,
        ctx: &mut Context<'_, Self>,
        id: RequestId,
        request: Request,
    ) {
        if let Err(error) = validate(&request) {
            ctx.reply(id, Reply::Error(error));
            return;
        }
        if !self.is_leader() {
            ctx.reply(
                id,
                Reply::NotLeader {
                    leader: self.leader,
                },
            );
            return;
        }
        let command = match request {
            Request::Get { .. } | Request::List { .. } => return self.on_read(ctx, id, request),
            Request::TransferLeader { to } => return self.on_transfer_request(ctx, id, to),
            Request::AddMember { .. }
            | Request::AddLearner { .. }
            | Request::Promote { .. }
            | Request::RemoveMember { .. } => return self.on_membership_request(ctx, id, request),
            Request::Put { key, value } => KvCommand::Put { key, value },
            Request::Delete { key } => KvCommand::Delete { key },
            Request::Cas {
                key,
                expected_revision,
                value,
            } => KvCommand::Cas {
                key,
                expected_revision,
                value,
            },
        };
        if let Err(error) = self.admit_proposal() {
            ctx.reply(id, Reply::Error(error));
            return;
        }
        let index = self.propose(ctx, Payload::Command(command));
        self.leader_mut().proposals.insert(index, id);
    }

    /// Whether another proposal may be queued now.
    pub(crate) fn admit_proposal(&self) -> Result<(), RaftError> {
        let state = self.leader_ref();
        if state.transfer.is_some() {
            return Err(RaftError::TransferInProgress);
        }
        let max = self.config.pending_proposals_max;
        let pending = state.proposals.len();
        if pending >= max {
            return Err(RaftError::Overloaded { pending, max });
        }
        Ok(())
    }
}

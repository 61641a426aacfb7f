//! Solves the gossip join's proof of work off the core's event loop.
//!
//! The core does no heavy work in a step: with `pow_difficulty_bits > 0`
//! it waits, and its status names what it wants (`pow_wanted`: its key and
//! the difficulty). This task polls the status until the node has joined,
//! solves on a blocking thread (`spawn_blocking`), and hands the nonce in
//! as a `ProofOfWork` request; the core checks it and sends its join.

use crate::service_api::CoreHandle;
use serde_json::Value;
use skein_gossip::identity::{pow_solve, PublicKey};
use skein_gossip::{GossipReply, GossipRequest};
use std::time::Duration;

/// How often the status is read while the node has not joined.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Starts the solver if a tokio runtime is running (it is when a node serves its API).
pub fn spawn_solver(core: CoreHandle) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Ok(status) = core.status().await else {
                return; // the node is stopping
            };
            if status["joined"] == true || status["left"] == true {
                return;
            }
            let Some((key, bits)) = wanted(&status) else {
                continue;
            };
            let started = std::time::Instant::now();
            let Ok(nonce) = tokio::task::spawn_blocking(move || pow_solve(&key, bits)).await else {
                return;
            };
            let request = GossipRequest::ProofOfWork { nonce };
            match core.request::<_, GossipReply>(&request).await {
                Ok(GossipReply::ProofOfWorkAccepted) => {
                    tracing::info!(
                        bits,
                        took_ms = started.elapsed().as_millis() as u64,
                        "join proof of work solved"
                    );
                }
                other => tracing::warn!(?other, "join proof of work not taken"),
            }
        }
    });
}

/// The key and difficulty the core's status asks a proof of work for.
fn wanted(status: &Value) -> Option<(PublicKey, u8)> {
    let wanted = &status["pow_wanted"];
    let key = PublicKey::from_hex(wanted["key"].as_str()?)?;
    let bits = u8::try_from(wanted["bits"].as_u64()?).ok()?;
    Some((key, bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wanted_proof_is_read_from_the_status() {
        let key = PublicKey([7; 32]);
        let status = json!({"joined": false, "pow_wanted": {"key": key.to_hex(), "bits": 12}});
        assert_eq!(wanted(&status), Some((key, 12)));
        assert_eq!(wanted(&json!({"pow_wanted": null})), None);
        assert_eq!(
            wanted(&json!({"pow_wanted": {"key": "xy", "bits": 3}})),
            None
        );
    }
}

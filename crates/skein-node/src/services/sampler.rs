//! Service metrics sampled from the core's status.
//!
//! The node's metrics registry is fixed when it starts, so a service
//! publishes its own figures through [`ServiceSamples`](crate::metrics::ServiceSamples):
//! a task asks the core loop for its status every [`SAMPLE_INTERVAL`] and
//! hands it to the service's `publish`. The task ends when the core loop stops.

use crate::service_api::CoreHandle;
use serde_json::Value;
use std::time::Duration;

pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Starts the sampler if a tokio runtime is running (it is when a node serves
/// its API). `memory` carries what `publish` needs between samples, such as
/// the last leader or view, to count changes.
pub fn spawn<M, F>(core: CoreHandle, publish: F)
where
    M: Default + Send + 'static,
    F: Fn(&CoreHandle, &Value, &mut M) + Send + 'static,
{
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut memory = M::default();
            loop {
                ticks.tick().await;
                let Ok(status) = core.status().await else {
                    return; // the node is stopping
                };
                publish(&core, &status, &mut memory);
            }
        });
    }
}

//! Per-link state: connections, in-flight counts, stream order, partitions.
//! Indexed by *instance* (a Twins node has two instances with one id).

use super::{LinkConfig, Partition};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use skein_core::{Channel, NodeId};

/// Why a message never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    Partition,
    Loss,
    /// The stream connection broke (reset, crash, partition) while it was in flight.
    ConnectionBroken,
    /// The link already had `in_flight_per_link_max` messages in flight.
    Overflow,
    /// The receiving node was crashed.
    Crashed,
    /// Held while the receiver was paused, and the hold queue was full.
    PauseOverflow,
}

impl DropReason {
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Partition => "partition",
            DropReason::Loss => "loss",
            DropReason::ConnectionBroken => "connection-broken",
            DropReason::Overflow => "overflow",
            DropReason::Crashed => "receiver-crashed",
            DropReason::PauseOverflow => "pause-overflow",
        }
    }
}

/// When the copies of one sent message arrive (two if duplicated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendPlan {
    Dropped(DropReason),
    Deliver {
        arrivals_us: [u64; 2],
        copies: u8,
        conn: u32,
        reordered: bool,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct LinkState {
    /// Bumped whenever the stream connection breaks.
    conn: u32,
    in_flight: u32,
    /// The last arrival time scheduled on this stream, to keep it FIFO.
    stream_tail_us: u64,
    cut: bool,
}

pub struct Network {
    instances: usize,
    links: Vec<LinkState>,
    healthy: LinkConfig,
    chaos: Option<LinkConfig>,
    partition: Option<Partition>,
    in_flight_max: u32,
}

impl Network {
    pub fn new(instances: usize, healthy: LinkConfig, in_flight_max: u32) -> Self {
        Self {
            instances,
            links: vec![LinkState::default(); instances * instances],
            healthy,
            chaos: None,
            partition: None,
            in_flight_max,
        }
    }

    fn link(&mut self, from: usize, to: usize) -> &mut LinkState {
        &mut self.links[from * self.instances + to]
    }

    pub fn config(&self) -> &LinkConfig {
        self.chaos.as_ref().unwrap_or(&self.healthy)
    }

    pub fn is_chaotic(&self) -> bool {
        self.chaos.is_some()
    }

    pub fn set_chaos(&mut self, chaos: Option<LinkConfig>) {
        self.chaos = chaos;
    }

    pub fn partition(&self) -> Option<&Partition> {
        self.partition.as_ref()
    }

    /// Installs (or with `None`, heals) a partition. `ids[i]` is instance i's node id.
    pub fn set_partition(&mut self, partition: Option<Partition>, ids: &[NodeId]) {
        for (from, &a) in ids.iter().enumerate() {
            for (to, &b) in ids.iter().enumerate() {
                let cut = partition.as_ref().is_some_and(|p| p.blocks(a, b));
                let link = self.link(from, to);
                if cut && !link.cut {
                    link.conn += 1; // a cut breaks the TCP connection
                }
                link.cut = cut;
            }
        }
        self.partition = partition;
    }

    /// Breaks every stream to and from `instance` (it crashed or restarted).
    pub fn reset_instance(&mut self, instance: usize) {
        for other in 0..self.instances {
            self.link(instance, other).conn += 1;
            self.link(other, instance).conn += 1;
        }
    }

    /// Decides the fate of one message sent now.
    pub fn plan(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_us: u64,
        from: usize,
        to: usize,
        channel: Channel,
    ) -> SendPlan {
        let in_flight_max = self.in_flight_max;
        let cfg = self.chaos.unwrap_or(self.healthy);
        let link = &mut self.links[from * self.instances + to];
        if link.cut {
            return SendPlan::Dropped(DropReason::Partition);
        }
        if link.in_flight >= in_flight_max {
            if channel == Channel::Stream {
                link.conn += 1;
            }
            return SendPlan::Dropped(DropReason::Overflow);
        }
        let latency_us = cfg.sample_latency_us(rng);
        let mut plan_at = [now_us + latency_us, 0];
        let mut copies = 1;
        let mut reordered = false;
        match channel {
            Channel::Stream => {
                if LinkConfig::chance(rng, cfg.stream_reset_probability) {
                    link.conn += 1;
                    return SendPlan::Dropped(DropReason::ConnectionBroken);
                }
                plan_at[0] = plan_at[0].max(link.stream_tail_us);
                link.stream_tail_us = plan_at[0];
            }
            Channel::Datagram => {
                if LinkConfig::chance(rng, cfg.loss_probability) {
                    return SendPlan::Dropped(DropReason::Loss);
                }
                if LinkConfig::chance(rng, cfg.reorder_probability) {
                    plan_at[0] += rng.random_range(0..=4 * cfg.latency_mean_us);
                    reordered = true;
                }
                if LinkConfig::chance(rng, cfg.duplicate_probability) {
                    plan_at[1] = now_us + cfg.sample_latency_us(rng);
                    copies = 2;
                }
            }
        }
        link.in_flight += copies as u32;
        SendPlan::Deliver {
            arrivals_us: plan_at,
            copies,
            conn: link.conn,
            reordered,
        }
    }

    /// Called when a message reaches the receiver's side of the link.
    pub fn arrive(
        &mut self,
        from: usize,
        to: usize,
        channel: Channel,
        conn: u32,
    ) -> Result<(), DropReason> {
        let link = self.link(from, to);
        debug_assert!(link.in_flight > 0, "arrival without a send");
        link.in_flight = link.in_flight.saturating_sub(1);
        if link.cut {
            return Err(DropReason::Partition);
        }
        if channel == Channel::Stream && conn != link.conn {
            return Err(DropReason::ConnectionBroken);
        }
        Ok(())
    }

    pub fn in_flight(&self, from: usize, to: usize) -> u32 {
        self.links[from * self.instances + to].in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn streams_stay_fifo_and_lose_in_flight_messages_on_a_cut() {
        let mut net = Network::new(2, LinkConfig::default(), 8);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut last = 0;
        let mut conns = Vec::new();
        for _ in 0..8 {
            let SendPlan::Deliver {
                arrivals_us, conn, ..
            } = net.plan(&mut rng, 0, 0, 1, Channel::Stream)
            else {
                panic!("healthy link dropped")
            };
            assert!(arrivals_us[0] >= last);
            last = arrivals_us[0];
            conns.push(conn);
        }
        // The ninth exceeds the in-flight bound.
        assert_eq!(
            net.plan(&mut rng, 0, 0, 1, Channel::Stream),
            SendPlan::Dropped(DropReason::Overflow)
        );
        assert_eq!(
            net.arrive(0, 1, Channel::Stream, conns[0]),
            Err(DropReason::ConnectionBroken)
        );
        let ids = [NodeId(1), NodeId(2)];
        net.set_partition(
            Some(Partition::split("t", &[vec![ids[0]], vec![ids[1]]])),
            &ids,
        );
        assert_eq!(
            net.plan(&mut rng, 0, 1, 0, Channel::Datagram),
            SendPlan::Dropped(DropReason::Partition)
        );
    }
}

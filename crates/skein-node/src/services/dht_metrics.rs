//! dht metrics, sampled from the core's status: lookups and their hops
//! (the core keeps a hop histogram; the sampler publishes the count, the
//! total and the p50/p99 it implies), keys stored, and the size estimate.

use crate::service_api::CoreHandle;
use serde_json::Value;

pub fn spawn_sampler(core: CoreHandle) {
    super::sampler::spawn(core, |core, status, _: &mut ()| publish(core, status));
}

/// The smallest hop count at or below which a share `q` of lookups fell.
fn hops_quantile(histogram: &[u64], q: f64) -> i64 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 0;
    }
    let want = (total as f64 * q).ceil() as u64;
    let mut seen = 0;
    for (hops, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= want {
            return hops as i64;
        }
    }
    histogram.len() as i64 - 1
}

fn publish(core: &CoreHandle, status: &Value) {
    let out = &core.metrics().service;
    let counters = &status["counters"];
    let count = |field: &str| counters[field].as_u64().unwrap_or(0);
    let histogram: Vec<u64> = counters["hops_histogram"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(0)).collect())
        .unwrap_or_default();
    let hops_total: u64 = histogram
        .iter()
        .enumerate()
        .map(|(h, c)| h as u64 * c)
        .sum();
    out.set_counter(
        "skein_dht_lookups",
        "Lookups this node finished",
        count("lookups_done"),
    );
    out.set_counter(
        "skein_dht_lookups_failed",
        "Lookups that failed",
        count("lookups_failed"),
    );
    out.set_counter(
        "skein_dht_lookup_hops",
        "Hops of all finished lookups (divide by skein_dht_lookups_total for the mean)",
        hops_total,
    );
    out.set_gauge(
        "skein_dht_lookup_hops_p50",
        "Median lookup hops so far",
        hops_quantile(&histogram, 0.5),
    );
    out.set_gauge(
        "skein_dht_lookup_hops_p99",
        "99th percentile of lookup hops so far",
        hops_quantile(&histogram, 0.99),
    );
    let number = |field: &str| status[field].as_u64().map_or(0, |v| v as i64);
    out.set_gauge(
        "skein_dht_keys_stored",
        "Keys with a value held by this node (replicas included)",
        number("keys"),
    );
    out.set_gauge(
        "skein_dht_local_keys",
        "Keys in this node's local store",
        number("local_keys"),
    );
    let estimate = status["size_estimate"]["nodes"].as_f64().unwrap_or(0.0);
    out.set_gauge(
        "skein_dht_ring_size_estimate",
        "Ring size estimated from id density",
        estimate.round() as i64,
    );
    out.set_gauge(
        "skein_dht_successors",
        "Length of the successor list",
        status["successors"]
            .as_array()
            .map_or(0, |a| a.len() as i64),
    );
    out.set_counter(
        "skein_dht_rpc_timeouts",
        "Peers that did not answer in time",
        count("rpc_timeouts"),
    );
    out.set_counter(
        "skein_dht_messages_rejected",
        "Malformed or spoofed messages dropped",
        count("messages_rejected"),
    );
}

#[cfg(test)]
mod tests {
    use super::hops_quantile;

    #[test]
    fn quantiles_come_from_the_histogram() {
        assert_eq!(hops_quantile(&[0, 0, 0], 0.5), 0);
        assert_eq!(hops_quantile(&[1, 2, 1], 0.5), 1);
        assert_eq!(hops_quantile(&[1, 2, 1], 0.99), 2);
    }
}

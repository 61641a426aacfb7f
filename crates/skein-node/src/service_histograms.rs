//! Histograms a service names itself (`skein_bft_request_execution_seconds`,
//! `skein_bft_convergence_seconds`, ...). The node's registry is fixed when
//! it starts, so like [`crate::metrics::ServiceSamples`] these are kept in a
//! collector encoded on each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::histogram::Histogram;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Bucket bounds in seconds for latencies from sub-millisecond to a minute.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

#[derive(Clone)]
struct Named {
    help: &'static str,
    histogram: Histogram,
}

/// Bounded: one histogram per distinct `&'static str` name in the service's code.
#[derive(Clone, Default)]
pub struct ServiceHistograms(Arc<Mutex<BTreeMap<&'static str, Named>>>);

impl std::fmt::Debug for ServiceHistograms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .0
            .lock()
            .expect("not poisoned")
            .keys()
            .copied()
            .collect();
        f.debug_tuple("ServiceHistograms").field(&names).finish()
    }
}

impl ServiceHistograms {
    /// Records one observation (seconds) in histogram `name` with
    /// [`LATENCY_BUCKETS`], creating it on first use.
    pub fn observe_seconds(&self, name: &'static str, help: &'static str, seconds: f64) {
        let mut map = self.0.lock().expect("not poisoned");
        map.entry(name)
            .or_insert_with(|| Named {
                help,
                histogram: Histogram::new(LATENCY_BUCKETS),
            })
            .histogram
            .observe(seconds);
    }
}

impl Collector for ServiceHistograms {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let map = self.0.lock().expect("not poisoned").clone();
        for (name, named) in map {
            let metric = named.histogram;
            metric.encode(encoder.encode_descriptor(
                name,
                named.help,
                None,
                metric.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn observations_are_encoded_as_a_prometheus_histogram() {
        let histograms = ServiceHistograms::default();
        histograms.observe_seconds("skein_test_seconds", "a test", 0.003);
        histograms.observe_seconds("skein_test_seconds", "a test", 2.0);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(histograms));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("# TYPE skein_test_seconds histogram"),
            "{text}"
        );
        assert!(text.contains("skein_test_seconds_count 2"), "{text}");
        assert!(
            text.contains(r#"skein_test_seconds_bucket{le="0.005"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"skein_test_seconds_bucket{le="+Inf"} 2"#),
            "{text}"
        );
    }
}

//! Prometheus metrics. One registry per router (no process-wide default registry), so that
//! several routers can run in one process (integration tests) without mixing their figures.
//! Names follow Prometheus conventions: `floodgate_` prefix, base units in the name (`_bytes`,
//! `_seconds`), counters end in `_total`; every metric has help text.

use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub build_info: IntGaugeVec,
    pub start_time_seconds: IntGauge,
    pub ready: IntGauge,
    pub http_requests: IntCounterVec,
    pub router_info_published_seconds: IntGauge,
    pub wire_parse_errors: IntCounterVec,
}

/// Register `c` in `r` and hand it back: the one registration helper every room uses.
pub fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
    // Registration only fails on duplicate or inconsistent descriptors, which is a programming
    // error the rooms' metric tests catch on every build.
    r.register(Box::new(c.clone()))
        .expect("metric descriptors are unique and valid");
    c
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let m = Self {
            registry: registry.clone(),
            build_info: reg(
                r,
                IntGaugeVec::new(
                    Opts::new("floodgate_build_info", "Build information; the value is always 1."),
                    &["version", "router_api"],
                )
                .expect("valid"),
            ),
            start_time_seconds: reg(
                r,
                IntGauge::new(
                    "floodgate_start_time_seconds",
                    "Unix time the router started, in seconds.",
                )
                .expect("valid"),
            ),
            ready: reg(
                r,
                IntGauge::new(
                    "floodgate_ready",
                    "1 while the router is ready (/readyz answers 200), else 0.",
                )
                .expect("valid"),
            ),
            http_requests: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_http_requests_total",
                        "Requests served by the ops HTTP server, by endpoint and status code.",
                    ),
                    &["endpoint", "code"],
                )
                .expect("valid"),
            ),
            router_info_published_seconds: reg(
                r,
                IntGauge::new(
                    "floodgate_router_info_published_seconds",
                    "Unix time (seconds) of the published date in our current signed RouterInfo.",
                )
                .expect("valid"),
            ),
            wire_parse_errors: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_wire_parse_errors_total",
                        "Structures received from peers that failed to parse, by structure and reason.",
                    ),
                    &["structure", "reason"],
                )
                .expect("valid"),
            ),
        };
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::new(
                std::process::id() as i32,
                "floodgate",
            ),
        ))
        .expect("process collector registers once");
        m
    }

    /// The registry, for rooms that register their own metric families.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // The text encoder only fails on invalid metric families, which registration prevents.
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_prefix() {
        let m = Metrics::new();
        m.http_requests.with_label_values(&["livez", "200"]).inc();
        m.wire_parse_errors
            .with_label_values(&["router_info", "truncated"])
            .inc();
        m.build_info.with_label_values(&["0.1.0", "0.9.67"]).set(1);
        let families = m.registry().gather();
        assert!(families.len() >= 5);
        for f in families {
            assert!(f.name().starts_with("floodgate_"), "{}", f.name());
            assert!(!f.help().is_empty(), "{} has no help", f.name());
        }
        let text = m.render();
        assert!(text.contains("# HELP floodgate_http_requests_total"));
        assert!(text.contains("floodgate_http_requests_total{code=\"200\",endpoint=\"livez\"} 1"));
    }
}

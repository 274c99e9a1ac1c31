//! Logging and tracing: structured logs via `tracing` (text or JSON) and, when
//! `telemetry.otlp_endpoint` is set, span export over OTLP/HTTP (protobuf) via
//! tracing-opentelemetry.
//!
//! Log hygiene: at info level and above, never log full IP addresses or router hashes; use
//! [`short_hash`] and [`redact_ip`] for those fields.

use crate::config::{LogConfig, LogFormat, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use thiserror::Error;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error("log.level: {0}")]
    Filter(String),
    #[error("telemetry.otlp_endpoint: cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Keeps the span exporter alive; flushes pending spans when shut down.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flush and stop the exporter. Called on clean shutdown so the last spans are not lost.
    pub fn shutdown(mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("floodgate: flushing OpenTelemetry spans failed: {e}");
        }
    }
}

/// The OTLP/HTTP traces URL for a configured endpoint: a base URL gets `/v1/traces` appended,
/// as the OTLP exporter specification describes for OTEL_EXPORTER_OTLP_ENDPOINT.
pub fn traces_url(endpoint: &str) -> String {
    let e = endpoint.trim_end_matches('/');
    if e.ends_with("/v1/traces") {
        e.to_string()
    } else {
        format!("{e}/v1/traces")
    }
}

/// Install the process's tracing subscriber. This is the one piece of process-wide state the
/// `tracing` ecosystem requires; it is set once by the binary, never by library code.
pub fn init(
    log: &LogConfig,
    telemetry: &TelemetryConfig,
) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::builder()
        .parse(&log.level)
        .map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let (text, json) = match log.format {
        LogFormat::Text => (
            Some(tracing_subscriber::fmt::layer().with_target(true)),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            ),
        ),
    };
    let (otel, provider) = match &telemetry.otlp_endpoint {
        Some(ep) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(traces_url(ep))
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name(telemetry.service_name.clone())
                        .build(),
                )
                .build();
            let tracer = provider.tracer("floodgate");
            (
                Some(tracing_opentelemetry::layer().with_tracer(tracer)),
                Some(provider),
            )
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

/// First 6 characters of a base64 router hash: enough to correlate log lines, too little to
/// identify a peer from logs alone.
pub fn short_hash(b64: &str) -> &str {
    b64.get(..6).unwrap_or(b64)
}

/// An IP address with its host part hidden (`198.18.x.x`, `2001:db8::x`).
pub fn redact_ip(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.x.x", o[0], o[1])
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}::x", s[0], s[1])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn redaction_hides_host_part() {
        assert_eq!(redact_ip("198.18.0.101".parse().unwrap()), "198.18.x.x");
        assert_eq!(redact_ip("2001:db8::1".parse().unwrap()), "2001:db8::x");
        assert_eq!(short_hash("abcdefghijkl"), "abcdef");
        assert_eq!(short_hash("ab"), "ab");
    }
}

//! Operations surface: the HTTP server (/livez /readyz /metrics /status), the Prometheus metrics
//! registry, router status shared with the HTTP handlers, and logging/telemetry setup.

pub mod http;
pub mod metrics;
pub mod status;
pub mod telemetry;

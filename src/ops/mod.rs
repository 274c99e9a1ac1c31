//! Operations surface: HTTP endpoints, metrics, telemetry.

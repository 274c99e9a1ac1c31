//! The ops HTTP server: `/livez`, `/readyz`, `/metrics`, `/status` on one listener.
//!
//! Liveness means "the process and its runtime answer"; readiness means "useful to the network"
//! (conditions reported by the rooms, see [`super::status::RouterStatus::readiness`]), and it turns
//! false as soon as draining starts so orchestrators stop sending new work.

use super::metrics::Metrics;
use super::status::RouterStatus;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct OpsState {
    pub status: Arc<RouterStatus>,
    pub metrics: Metrics,
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(state)
}

fn count(state: &OpsState, endpoint: &str, code: StatusCode) {
    state
        .metrics
        .http_requests
        .with_label_values(&[endpoint, code.as_str()])
        .inc();
}

async fn livez(State(s): State<OpsState>) -> Response {
    count(&s, "livez", StatusCode::OK);
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"live": true})),
    )
        .into_response()
}

async fn readyz(State(s): State<OpsState>) -> Response {
    let r = s.status.readiness();
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    count(&s, "readyz", code);
    (code, axum::Json(r)).into_response()
}

async fn metrics(State(s): State<OpsState>) -> Response {
    count(&s, "metrics", StatusCode::OK);
    // Readiness is computed on demand; refresh its gauge for this scrape.
    s.metrics.ready.set(i64::from(s.status.readiness().ready));
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn status(State(s): State<OpsState>) -> Response {
    count(&s, "status", StatusCode::OK);
    (StatusCode::OK, axum::Json(s.status.snapshot())).into_response()
}

/// A bound, not yet serving, ops listener: binding is separate so start-up fails early (and
/// names the address) when the port is taken.
pub struct OpsServer {
    listener: tokio::net::TcpListener,
}

impl OpsServer {
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            listener: tokio::net::TcpListener::bind(addr).await?,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` is cancelled.
    pub async fn serve(self, state: OpsState, shutdown: CancellationToken) -> std::io::Result<()> {
        axum::serve(self.listener, router(state))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}

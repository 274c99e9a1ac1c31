//! OpenTelemetry export: a real `floodgate run` process exports its spans over OTLP/HTTP
//! (protobuf) to a receiver that decodes them with the official OTLP protobuf definitions.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use common::Floodgate;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Received {
    spans: Vec<String>,
    services: Vec<String>,
    decode_errors: usize,
}

async fn traces(State(rx): State<Arc<Mutex<Received>>>, body: Bytes) -> &'static str {
    let mut rx = rx.lock().unwrap();
    match ExportTraceServiceRequest::decode(body) {
        Ok(req) => {
            for rs in req.resource_spans {
                if let Some(res) = rs.resource {
                    for kv in res.attributes {
                        if kv.key == "service.name"
                            && let Some(Value::StringValue(s)) = kv.value.and_then(|v| v.value)
                        {
                            rx.services.push(s);
                        }
                    }
                }
                for ss in rs.scope_spans {
                    for s in ss.spans {
                        rx.spans.push(s.name);
                    }
                }
            }
        }
        Err(_) => rx.decode_errors += 1,
    }
    ""
}

#[test]
fn spans_reach_an_otlp_receiver() {
    let received = Arc::new(Mutex::new(Received::default()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/traces", post(traces))
        .with_state(received.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{addr}");
    let mut fg = Floodgate::start(
        dir.path(),
        &[
            ("FLOODGATE_TELEMETRY__OTLP_ENDPOINT", &endpoint),
            ("FLOODGATE_TELEMETRY__SERVICE_NAME", "floodgate-otlp-test"),
        ],
    );
    fg.wait_for("/readyz", 200, Duration::from_secs(20));
    // Clean shutdown flushes the batch exporter.
    assert!(fg.terminate(Duration::from_secs(15)).success());

    let start = Instant::now();
    loop {
        {
            let rx = received.lock().unwrap();
            assert_eq!(
                rx.decode_errors, 0,
                "receiver got undecodable OTLP payloads"
            );
            if rx.spans.iter().any(|s| s == "router.startup")
                && rx.spans.iter().any(|s| s == "router.drain")
            {
                assert!(
                    rx.services.iter().all(|s| s == "floodgate-otlp-test"),
                    "{:?}",
                    rx.services
                );
                assert!(!rx.services.is_empty());
                return;
            }
        }
        if start.elapsed() > Duration::from_secs(10) {
            let rx = received.lock().unwrap();
            panic!(
                "spans not received; got {:?}; log:\n{}",
                rx.spans,
                fg.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

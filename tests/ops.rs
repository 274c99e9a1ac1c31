//! The ops surface of a real `floodgate run` process: probes, metrics, status, clean shutdown,
//! and configuration errors that stop start-up with a message naming the key.

mod common;

use common::{Floodgate, tool};
use std::process::Command;
use std::time::Duration;

#[test]
fn endpoints_answer_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut fg = Floodgate::start(
        dir.path(),
        &[
            ("FLOODGATE_NET_ID", "99"),
            ("FLOODGATE_HOST", "198.18.0.100"),
        ],
    );
    fg.wait_for("/livez", 200, Duration::from_secs(20));
    let ready = fg.wait_for("/readyz", 200, Duration::from_secs(20));
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["ready"], true);

    let (code, status) = fg.get("/status").unwrap();
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["net_id"], 99);
    let hash = status["router_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 44, "base64 of a 32-byte hash");
    assert!(
        status["caps"].as_str().unwrap().contains('f'),
        "floodfill by default"
    );
    assert!(status["version"].as_str().unwrap().starts_with("0.9."));
    assert!(status["uptime_s"].is_u64());
    for (section, keys) in [
        ("peers", &["ntcp2"][..]),
        ("netdb", &["router_infos", "lease_sets", "floodfills"][..]),
        ("transit", &["tunnels"][..]),
    ] {
        for k in keys {
            assert!(status[section][k].is_u64(), "{section}.{k}");
        }
    }
    // The RouterInfo file exists and the keys file is private.
    assert!(dir.path().join("router.info").is_file());

    let (code, metrics) = fg.get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("# HELP floodgate_build_info"));
    assert!(metrics.contains("floodgate_process_resident_memory_bytes"));
    assert!(metrics.contains("floodgate_http_requests_total{code=\"200\",endpoint=\"status\"} 1"));
    if let Some(promtool) = tool("promtool") {
        let f = dir.path().join("metrics.txt");
        std::fs::write(&f, &metrics).unwrap();
        let out = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&f).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let st = fg.terminate(Duration::from_secs(10));
    assert!(st.success(), "exit status {st}");
    let log = fg.log_text();
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    // Info-level logs never carry the full router hash.
    assert!(
        !log.contains(hash),
        "full router hash leaked into info logs:\n{log}"
    );
}

#[test]
fn identity_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hash = |d: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .args(["keys", "--data-dir"])
            .arg(d)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let a = hash(dir.path());
    let b = hash(dir.path());
    assert_eq!(a, b);
    assert_eq!(a.len(), 44);
}

fn run_expect_config_error(args: &[&str], env: &[(&str, &str)], want: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "should fail with exit 2");
    let err = String::from_utf8_lossy(&out.stderr);
    for w in want {
        assert!(err.contains(w), "stderr should mention {w:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_config_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    std::fs::write(&f, "transit:\n  max_tunels: 5\n").unwrap();
    let fs = f.to_str().unwrap();
    run_expect_config_error(
        &["run", "--config", fs],
        &[],
        &["transit.max_tunels", "unknown field"],
    );
    std::fs::write(&f, "ntcp2:\n  port: 99999\n").unwrap();
    run_expect_config_error(&["run", "--config", fs], &[], &["ntcp2.port"]);
    std::fs::write(&f, "net_id: [\n").unwrap();
    run_expect_config_error(&["run", "--config", fs], &[], &["c.yaml", "not valid YAML"]);
    run_expect_config_error(
        &["run"],
        &[("FLOODGATE_TRANSIT__SHARE_PERCENT", "150")],
        &["transit.share_percent"],
    );
    run_expect_config_error(
        &["run"],
        &[("FLOODGATE_LOG__FORMAT", "xml")],
        &["log.format"],
    );
    run_expect_config_error(
        &["run", "--config", "/nonexistent/floodgate.yaml"],
        &[],
        &["/nonexistent/floodgate.yaml", "cannot read"],
    );
}

#[test]
fn http_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    run_expect_config_error(
        &[
            "run",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--http-listen",
            &addr,
        ],
        &[],
        &["http.listen", &addr],
    );
}

#[test]
fn healthcheck_subcommand_reports_health() {
    let dir = tempfile::tempdir().unwrap();
    let mut fg = Floodgate::start(dir.path(), &[]);
    fg.wait_for("/readyz", 200, Duration::from_secs(20));
    let hc = |extra: &[&str], addr: &str| {
        Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .args(["healthcheck", "--addr", addr])
            .args(extra)
            .env_clear()
            .status()
            .unwrap()
    };
    let addr = fg.http.to_string();
    assert!(hc(&[], &addr).success());
    assert!(hc(&["--ready"], &addr).success());
    // --get prints the body: the way into a container without curl.
    let got = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["healthcheck", "--addr", &addr, "--get", "/metrics"])
        .env_clear()
        .output()
        .unwrap();
    assert!(got.status.success());
    let text = String::from_utf8(got.stdout).unwrap();
    assert!(text.contains("# HELP floodgate_build_info"), "{text}");
    assert_eq!(
        hc(&["--get", "/nope"], &addr).code(),
        Some(1),
        "404 is a failure"
    );
    fg.terminate(Duration::from_secs(10));
    assert_eq!(hc(&[], &addr).code(), Some(1), "nothing listens any more");
}

/// The netDb is still below the reseed target after the start (the reseed folder is empty):
/// the router keeps trying on its back-off, and once RouterInfos appear in the source it loads
/// them without a restart.
#[test]
fn reseed_is_retried_while_the_netdb_is_below_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    let seed_s = seed.display().to_string();
    let mut fg = Floodgate::start(
        &dir.path().join("fg"),
        &[
            ("FLOODGATE_NET_ID", "99"),
            ("FLOODGATE_RESEED__FILES", &seed_s),
            ("FLOODGATE_RESEED__THRESHOLD", "2"),
            ("FLOODGATE_RESEED__RETRY_SECONDS", "1"),
        ],
    );
    fg.wait_for("/livez", 200, Duration::from_secs(20));
    let metric = |fg: &Floodgate, needle: &str| -> u64 {
        let (_, text) = fg.get("/metrics").unwrap_or_default();
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    let start = std::time::Instant::now();
    while metric(&fg, "floodgate_reseed_runs_total{result=\"failed\"}") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            fg.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two routers of network 99 appear in the reseed folder.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for i in 0..2 {
        let ri = floodgate::netdb::testkit::router(99, false, now).info;
        std::fs::write(seed.join(format!("routerInfo-{i}.dat")), ri.as_bytes()).unwrap();
    }
    let start = std::time::Instant::now();
    while metric(&fg, "floodgate_reseed_runs_total{result=\"complete\"}") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no complete reseed after the files appeared:\n{}",
            fg.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        metric(
            &fg,
            "floodgate_reseed_router_infos_total{result=\"loaded\",source=\"files\"}"
        ),
        2
    );
    let (_, status) = fg.get("/status").unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["reseed"]["complete"], true, "{status}");
    assert_eq!(status["reseed"]["loaded"], 2, "{status}");
    assert!(status["reseed"]["next_try_in_s"].is_null(), "{status}");
    fg.terminate(Duration::from_secs(10));
}

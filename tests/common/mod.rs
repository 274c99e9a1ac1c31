//! Helpers shared by the integration tests: run the real `floodgate` binary as a child process.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released; the tiny race is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether tests that need external tools must run (CI) or may skip (a developer laptop).
pub fn tools_required() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Path of a tool, or None (and a printed reason) when it may be skipped.
pub fn tool(name: &str) -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    if tools_required() {
        panic!("{name} is required in CI but not on PATH (.ci/run installs it)");
    }
    eprintln!("SKIPPED part of test: {name} not installed");
    None
}

pub struct Floodgate {
    pub child: Child,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Floodgate {
    /// Start `floodgate run` with a temp data dir and extra environment.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = data_dir.join("floodgate.log");
        std::fs::create_dir_all(data_dir).unwrap();
        let logf = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_floodgate"));
        cmd.arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FLOODGATE_DATA_DIR", data_dir)
            .env("FLOODGATE_HTTP__LISTEN", http.to_string())
            .env("FLOODGATE_NTCP2__PORT", free_port().to_string())
            // A lone router on loopback has no peers; tests that need them set their own.
            .env("FLOODGATE_READINESS__MIN_PEERS", "0")
            .env("FLOODGATE_READINESS__MIN_ROUTER_INFOS", "0")
            .env("FLOODGATE_NTCP2__IPV6", "false")
            // No test reaches the real network: the public reseed servers that net id 2 uses by
            // default are switched off (a test that wants a reseed names its own sources).
            .env("FLOODGATE_RESEED__URLS", "")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn floodgate");
        Self {
            child,
            http,
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let c = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let r = c.get(self.url(path)).send().ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().unwrap_or_default()))
    }

    /// Poll `path` until it answers `code` or `timeout` passes.
    pub fn wait_for(&mut self, path: &str, code: u16, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some((c, body)) = self.get(path)
                && c == code
            {
                return body;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("floodgate exited early ({st}); log:\n{}", self.log_text());
            }
            if start.elapsed() > timeout {
                panic!(
                    "{path} did not answer {code} within {timeout:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "floodgate did not stop within {timeout:?} after SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Floodgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

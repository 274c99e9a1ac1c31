//! Interoperability with real i2pd routers (Debian i2pd 2.45.1) in a private test network run by
//! `tests/interop/testnet.sh` inside a network namespace (see tests/interop/README.md).
//!
//! These tests need root (the harness creates a network namespace), `ip` and `i2pd`. Without
//! them they print why and return; any other problem (a harness error, i2pd refusing something)
//! fails the test. Only one testnet runs at a time: each one is four i2pd processes on a machine
//! with few cores, and their tunnel build timing suffers when two networks compete.
//!
//! Set `FLOODGATE_INTEROP_KEEP=1` to keep the testnet directory (logs, configs, netDbs) after
//! the test; its path is printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// Serialises the tests of this file: one testnet at a time.
static ONE_TESTNET: Mutex<()> = Mutex::new(());

/// Ports and addresses fixed by the harness (tests/interop/testnet.sh).
const ROUTERS: u32 = 4;
const FLOODFILLS: u32 = 2;
const NET_ID: u8 = 99;
/// First of the addresses the harness reserves for floodgate inside the namespace.
const FLOODGATE_IP: &str = "198.18.0.100";
const FLOODGATE_NTCP2_PORT: u16 = 12345;
/// Upper bound for `up` (four routers are ready in ~15 s here; leave room for a busy machine).
const UP_TIMEOUT_SECS: u32 = 150;

fn lock() -> MutexGuard<'static, ()> {
    // A test that panicked while holding the lock has already run `down` through its guard.
    ONE_TESTNET.lock().unwrap_or_else(|e| e.into_inner())
}

fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/testnet.sh")
}

fn on_path(name: &str) -> bool {
    if name.contains('/') {
        return Path::new(name).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    // i2pd and ip live in /usr/sbin, which is not on every user's PATH.
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(name).is_file())
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // "Uid:  real  effective  saved  fs"
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Why these tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    let why = skip_reason_inner();
    // In CI (tests/run.sh sets CI=true) the interop tests are the judge of the protocol work:
    // a missing prerequisite is a failure, not a skip.
    if let Some(w) = &why
        && std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
    {
        panic!("interop prerequisites missing in CI: {w}");
    }
    why
}

fn skip_reason_inner() -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("not running as root (the harness creates a network namespace)".into());
    }
    if !on_path("ip") {
        return Some("`ip` (iproute2) is not installed".into());
    }
    let i2pd = std::env::var("I2PD").unwrap_or_else(|_| "i2pd".into());
    if !on_path(&i2pd) {
        return Some(format!("`{i2pd}` is not installed (apt-get install i2pd)"));
    }
    None
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_harness(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(harness())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", harness().display()))
}

/// A testnet directory; dropping it runs `testnet.sh down`, so a failing assertion never leaves
/// i2pd processes or a namespace behind.
struct Testnet {
    dir: Option<tempfile::TempDir>,
}

impl Testnet {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("floodgate-interop-")
            .tempdir()
            .expect("create the testnet directory");
        Self { dir: Some(dir) }
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().expect("testnet dir").path()
    }

    fn arg(&self) -> String {
        self.path().display().to_string()
    }

    fn up(&self, extra: &[&str]) {
        let dir = self.arg();
        let routers = ROUTERS.to_string();
        let floodfills = FLOODFILLS.to_string();
        let netid = NET_ID.to_string();
        let timeout = UP_TIMEOUT_SECS.to_string();
        let mut args = vec![
            "up",
            &dir,
            "--routers",
            &routers,
            "--floodfills",
            &floodfills,
            "--netid",
            &netid,
            "--timeout",
            &timeout,
        ];
        args.extend_from_slice(extra);
        // FLOODGATE_INTEROP_I2PD_LOGLEVEL=debug: i2pd's own detail when a test needs a look.
        let loglevel = std::env::var("FLOODGATE_INTEROP_I2PD_LOGLEVEL").ok();
        if let Some(l) = &loglevel {
            args.extend_from_slice(&["--loglevel", l]);
        }
        let started = std::time::Instant::now();
        let out = run_harness(&args);
        eprintln!(
            "testnet up took {:.1}s\n{}",
            started.elapsed().as_secs_f64(),
            show(&out)
        );
        assert!(out.status.success(), "testnet up failed:\n{}", show(&out));
    }

    /// `up`, but floodgate starts in the namespace before any i2pd (`--wait-for`): the i2pd
    /// routers, which are given floodgate's RouterInfo, then never fail to connect to it (an
    /// i2pd 2.45 that did would leave floodgate out of its floodfill choice for up to 75 s).
    fn up_floodgate_first(
        &self,
        extra: &[&str],
        fg_dir: &Path,
        env: &[(&str, String)],
    ) -> FloodgateInNetns {
        let gate = self.path().join("floodgate.listening");
        let gate_arg = gate.display().to_string();
        let mut args = extra.to_vec();
        args.extend_from_slice(&["--wait-for", &gate_arg]);
        std::thread::scope(|s| {
            let up = s.spawn(|| self.up(&args));
            // The namespace with floodgate's reserved addresses (added after the routers').
            let last_reserved = "198.18.0.103/32";
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                let out =
                    run_harness(&["exec", &self.arg(), "--", "ip", "-o", "addr", "show", "lo"]);
                if String::from_utf8_lossy(&out.stdout).contains(last_reserved) {
                    break;
                }
                if up.is_finished() || std::time::Instant::now() > deadline {
                    match up.join() {
                        Err(p) => std::panic::resume_unwind(p),
                        Ok(()) => panic!("the testnet namespace never got {last_reserved}"),
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let fg = FloodgateInNetns::start(self, fg_dir, env);
            fg.wait_log("NTCP2 listening", std::time::Duration::from_secs(30));
            std::fs::write(&gate, b"").expect("write the --wait-for file");
            if let Err(p) = up.join() {
                std::panic::resume_unwind(p);
            }
            fg
        })
    }

    fn ri_loaded(&self, router: u32, hash: &str) -> Output {
        run_harness(&["ri-loaded", &self.arg(), &router.to_string(), hash])
    }

    fn log(&self, router: u32) -> String {
        let p = self.path().join(format!("r{router}/i2pd.log"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn down(&self) -> Output {
        run_harness(&["down", &self.arg()])
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let out = self.down();
        if !out.status.success() {
            // Cannot panic here (we may already be unwinding): say it loudly instead.
            eprintln!(
                "testnet down FAILED for {}; clean up by hand:\n{}",
                self.arg(),
                show(&out)
            );
        }
        if std::env::var_os("FLOODGATE_INTEROP_KEEP").is_some()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("keeping testnet directory {}", dir.keep().display());
        }
    }
}

/// i2pd log lines that mean a RouterInfo was refused (i2pd 2.45.1 wording). RouterInfo parse
/// errors do not name the router, so any of them fails the test: the i2pd routers' own
/// RouterInfos never trigger them.
const REJECTIONS: &[&str] = &[
    "RouterInfo: Signature verification failed",
    "RouterInfo: RSA signature type is not allowed",
    "RouterInfo: Malformed message",
    "RouterInfo: Unexpected netId",
    "RouterInfo: Identity length",
    "RouterInfo: Buffer is too long",
    "RouterInfo: String length",
    "is invalid or too old",
    "RouterInfo is from future",
    "NetDb: Bad router info",
    "NetDb: Invalid RouterInfo length",
];

/// floodgate writes a RouterInfo (`floodgate keys`), and every i2pd router of the testnet takes it
/// through the path of a network DatabaseStore (reseed zip -> NetDb::AddRouterInfo: signature,
/// netId, addresses and timestamp checked) and keeps it.
#[test]
fn i2pd_loads_floodgate_router_info() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED i2pd_loads_floodgate_router_info: {why}");
        return;
    }
    let _one = lock();
    let tn = Testnet::new();

    // 1. floodgate's identity, published at an address reserved for it inside the namespace.
    let fg_dir = tn.path().join("floodgate");
    let mut keys = Command::new(env!("CARGO_BIN_EXE_floodgate"));
    keys.arg("keys").arg("--data-dir").arg(&fg_dir);
    // Only the settings below: nothing from the caller's environment may change the RouterInfo.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLOODGATE_") {
            keys.env_remove(k);
        }
    }
    let out = keys
        .env("FLOODGATE_NET_ID", NET_ID.to_string())
        .env("FLOODGATE_HOST", FLOODGATE_IP)
        .env("FLOODGATE_NTCP2__PORT", FLOODGATE_NTCP2_PORT.to_string())
        .env("FLOODGATE_FLOODFILL", "true")
        .output()
        .expect("run floodgate keys");
    assert!(
        out.status.success(),
        "floodgate keys failed:\n{}",
        show(&out)
    );
    let ri_path = fg_dir.join("router.info");
    assert!(
        ri_path.is_file(),
        "floodgate keys did not write {}:\n{}",
        ri_path.display(),
        show(&out)
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ri_arg = ri_path.display().to_string();
    let out = run_harness(&["hash", &ri_arg]);
    assert!(out.status.success(), "testnet.sh hash:\n{}", show(&out));
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        printed, hash,
        "floodgate keys printed a hash other than the SHA-256 of the identity in router.info"
    );

    // 2. The testnet, with floodgate's RouterInfo handed to every router at start.
    tn.up(&["--reseed-ri", &ri_arg]);

    // 3. Every router accepted it through the signature-checking path, and still holds it.
    for k in 1..=ROUTERS {
        let out = tn.ri_loaded(k, &hash);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("accepted"),
            "router {k} does not know floodgate's RouterInfo {hash}:\n{}",
            show(&out)
        );
    }

    // 4. No router logged a refusal of any RouterInfo.
    for k in 1..=ROUTERS {
        let log = tn.log(k);
        let refused: Vec<&str> = log
            .lines()
            .filter(|l| REJECTIONS.iter().any(|r| l.contains(r)))
            .collect();
        assert!(
            refused.is_empty(),
            "router {k} refused a RouterInfo:\n{}",
            refused.join("\n")
        );
    }

    // 5. Down explicitly, so that a failing `down` fails the test (the guard only reports).
    let out = tn.down();
    assert!(out.status.success(), "testnet down failed:\n{}", show(&out));
}

/// A `floodgate run` process inside the testnet's namespace; stopped (SIGTERM, then SIGKILL)
/// when dropped, before the testnet goes down.
struct FloodgateInNetns {
    child: std::process::Child,
    log: PathBuf,
    testnet: String,
}

impl FloodgateInNetns {
    fn start(tn: &Testnet, data_dir: &Path, env: &[(&str, String)]) -> Self {
        let log = data_dir.join("floodgate.log");
        let logf = std::fs::File::create(&log).expect("floodgate log");
        let mut cmd = Command::new("bash");
        cmd.arg(harness())
            .args(["exec", &tn.arg(), "--"])
            .arg(env!("CARGO_BIN_EXE_floodgate"))
            .arg("run")
            .stdin(std::process::Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FLOODGATE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("FLOODGATE_DATA_DIR", data_dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start floodgate in the namespace");
        Self {
            child,
            log,
            testnet: tn.arg(),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until floodgate's log contains `needle`; panics with the log after `timeout`.
    fn wait_log(&self, needle: &str, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while !self.log_text().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "floodgate did not log {needle:?} within {timeout:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// GET a path of floodgate's ops server from inside the namespace.
    fn get(&self, path: &str) -> String {
        let url = format!("http://{FLOODGATE_IP}:{FLOODGATE_HTTP_PORT}{path}");
        let out = run_harness(&[
            "exec",
            &self.testnet,
            "--",
            "curl",
            "-s",
            "--max-time",
            "5",
            &url,
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = std::time::Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if start.elapsed().as_secs() > 15 {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for FloodgateInNetns {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

const FLOODGATE_HTTP_PORT: u16 = 7670;

/// The sample lines of `text` whose metric name starts with one of `prefixes` (for failure
/// messages and logs).
fn metric_lines(text: &str, prefixes: &[&str]) -> String {
    text.lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sum of every sample of `name` whose labels contain all of `labels` (`key="value"` strings).
fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Settings of a floodgate router at the testnet address reserved for it.
fn floodgate_env() -> Vec<(&'static str, String)> {
    vec![
        ("FLOODGATE_NET_ID", NET_ID.to_string()),
        ("FLOODGATE_HOST", FLOODGATE_IP.into()),
        ("FLOODGATE_NTCP2__ADDRESS", FLOODGATE_IP.into()),
        ("FLOODGATE_NTCP2__PORT", FLOODGATE_NTCP2_PORT.to_string()),
        ("FLOODGATE_NTCP2__IPV6", "false".into()),
        (
            "FLOODGATE_HTTP__LISTEN",
            format!("{FLOODGATE_IP}:{FLOODGATE_HTTP_PORT}"),
        ),
        ("FLOODGATE_FLOODFILL", "true".into()),
        ("FLOODGATE_LOG__LEVEL", "info,floodgate=debug".into()),
        // i2pd builds exploratory tunnels through floodgate: without this every stop would
        // wait for them (the transit test checks the drain with its own value).
        ("FLOODGATE_TRANSIT__DRAIN_SECONDS", "0".into()),
        // Debian's i2pd 2.45.1 announces router.version 0.9.57, below the live network's
        // floodfill cut-off (0.9.59, see netdb::index): this private network of older routers
        // lowers it, as an operator of one would.
        ("FLOODGATE_NETDB__FLOODFILL_MIN_VERSION", "0.9.57".into()),
    ]
}

/// `floodgate keys` with exactly `env` (nothing from the caller's FLOODGATE_* environment):
/// returns the printed router hash and the path of the written router.info.
fn floodgate_keys(fg_dir: &Path, env: &[(&str, String)]) -> (String, String) {
    let mut keys = Command::new(env!("CARGO_BIN_EXE_floodgate"));
    keys.arg("keys").arg("--data-dir").arg(fg_dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLOODGATE_") {
            keys.env_remove(k);
        }
    }
    for (k, v) in env {
        keys.env(k, v);
    }
    let out = keys.output().expect("floodgate keys");
    assert!(out.status.success(), "floodgate keys:\n{}", show(&out));
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (hash, fg_dir.join("router.info").display().to_string())
}

/// A reseed folder for floodgate with the RouterInfos of i2pd routers `routers`.
fn seed_folder(tn: &Testnet, routers: std::ops::RangeInclusive<u32>) -> PathBuf {
    let seed = tn.path().join("fg-seed");
    std::fs::create_dir_all(&seed).unwrap();
    for k in routers {
        std::fs::copy(
            tn.path().join(format!("r{k}/router.info")),
            seed.join(format!("routerInfo-r{k}.dat")),
        )
        .expect("copy an i2pd RouterInfo");
    }
    seed
}

/// NTCP2 with real i2pd routers, floodgate dialling: floodgate connects to i2pd floodfills to
/// publish its RouterInfo (DatabaseStore with a reply token) and gets their DeliveryStatus
/// back; i2pd stores floodgate's re-signed RouterInfo ("RouterInfo updated"); I2NP flows both
/// ways. The other direction (i2pd dialling floodgate) is asserted where it is certain:
/// `transit_tunnels_carry_http_through_every_role` starts floodgate knowing no router, so its
/// first sessions can only be inbound. Here it is only reported: floodgate now dials the
/// non-floodfills itself once a tunnel through it needs them (found by a netDb search), and who
/// dials first is a race.
#[test]
fn ntcp2_sessions_with_i2pd_both_ways() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED ntcp2_sessions_with_i2pd_both_ways: {why}");
        return;
    }
    let _one = lock();
    let tn = Testnet::new();
    let fg_dir = tn.path().join("floodgate");
    let mut env = floodgate_env();
    env.push(("FLOODGATE_READINESS__MIN_ROUTER_INFOS", "2".into()));

    // 1. floodgate's keys and first RouterInfo; every i2pd router gets it at start.
    let (hash, ri_arg) = floodgate_keys(&fg_dir, &env);
    tn.up(&["--reseed-ri", &ri_arg]);

    // 2. floodgate reseeds from the floodfills' RouterInfos only and starts in the namespace.
    let seed = seed_folder(&tn, 1..=FLOODFILLS);
    env.push(("FLOODGATE_RESEED__FILES", seed.display().to_string()));
    let mut fg = FloodgateInNetns::start(&tn, &fg_dir, &env);

    // 3. Wait for sessions both ways, an acknowledged publication and i2pd's "updated".
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let updated = format!("RouterInfo updated: {hash}");
    let (mut metrics, mut i2pd_updated);
    loop {
        metrics = fg.get("/metrics");
        i2pd_updated = (1..=ROUTERS).any(|k| tn.log(k).contains(&updated));
        let out_ok = metric_sum(
            &metrics,
            "floodgate_ntcp2_handshakes_total",
            &["direction=\"outbound\"", "result=\"ok\""],
        );
        let in_ok = metric_sum(
            &metrics,
            "floodgate_ntcp2_handshakes_total",
            &["direction=\"inbound\"", "result=\"ok\""],
        );
        let acks = metric_sum(
            &metrics,
            "floodgate_router_info_publish_acks_total",
            &["result=\"ok\""],
        );
        let received = metric_sum(
            &metrics,
            "floodgate_transport_messages_total",
            &["direction=\"in\""],
        );
        // Every i2pd RouterInfo reaches floodgate: from the seed, sessions or the floodfills'
        // floods (floodgate is a floodfill too).
        let router_infos = metric_sum(
            &metrics,
            "floodgate_netdb_entries",
            &["kind=\"router_info\""],
        );
        if out_ok >= 1.0
            && acks >= 1.0
            && received >= 1.0
            && i2pd_updated
            && router_infos >= f64::from(ROUTERS)
        {
            eprintln!(
                "outbound ok {out_ok}, inbound ok {in_ok}, acks {acks}, messages in {received}, router infos {router_infos}"
            );
            break;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "NTCP2 interop incomplete after 120 s: outbound ok {out_ok}, inbound ok {in_ok}, \
                 publish acks {acks}, messages in {received}, router infos {router_infos}, \
                 i2pd updated our RouterInfo: {i2pd_updated}\n\
                 --- metrics\n{}\n--- floodgate log\n{}",
                metric_lines(
                    &metrics,
                    &[
                        "floodgate_ntcp2",
                        "floodgate_transport",
                        "floodgate_i2np",
                        "floodgate_netdb_entries"
                    ]
                ),
                fg.log_text()
            );
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    // Transit is not asserted here (the transit issue has its own interop test to come), but
    // what i2pd asked of floodgate is shown for whoever reads the log.
    eprintln!(
        "transit so far:\n{}",
        metric_lines(
            &metrics,
            &[
                "floodgate_transit_build_requests_total",
                "floodgate_transit_tunnels"
            ]
        )
    );
    let status = fg.get("/status");
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert!(status["peers"]["ntcp2"].as_u64().unwrap() >= 1, "{status}");
    assert!(
        status["netdb"]["router_infos"].as_u64().unwrap() >= u64::from(ROUTERS),
        "{status}"
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "floodgate_ntcp2_handshakes_total",
            &["result=\"failed\""]
        ),
        0.0,
        "no handshake with i2pd may fail:\n{metrics}"
    );
    assert_eq!(
        metric_sum(&metrics, "floodgate_transport_misbehaving_peers_total", &[]),
        0.0,
        "{metrics}"
    );

    // 4. Clean shutdown inside the namespace, then the testnet goes down.
    let st = fg.stop();
    assert!(st.success(), "floodgate exit {st}\n{}", fg.log_text());
    drop(fg);
    let out = tn.down();
    assert!(out.status.success(), "testnet down failed:\n{}", show(&out));
}

/// A minimal SAM v3.1 client, run with python3 inside the namespace (the i2pd SAM bridges are
/// only reachable there).
///
/// `publish HOST FLOODGATE_HASH FF_HASH...`: picks a destination whose routing key today is
/// closer to floodgate than to every i2pd floodfill (so i2pd publishes its LeaseSet to
/// floodgate, and lookups ask floodgate first), opens a STREAM session with zero-hop tunnels
/// and prints `DEST <b32 address>`; then keeps the session until stdin closes. Zero-hop tunnels
/// because i2pd 2.45.1 publishes a LeaseSet only if its outbound tunnel exists when the first
/// inbound one is built (otherwise it waits for the next inbound tunnel, ~10 min); zero-hop
/// pools build outbound first, and the publication then reaches floodgate directly from the
/// publishing router, still Noise-N garlic-wrapped.
///
/// `connect HOST B32 TIMEOUT`: opens a transient session and `STREAM CONNECT`s to the b32
/// address, retrying until `RESULT=OK`. i2pd answers OK as soon as it holds the target's
/// LeaseSet (it creates the stream then), CANT_REACH_PEER when its lookups fail.
///
/// Two i2pd 2.45.1 SAM paths crash the router when its address book is disabled (as in the
/// harness): NAMING LOOKUP and anything given a full base64 destination (AddressBook storage is
/// null), and accepting a stream. So: b32 only, and nothing accepts.
const SAM_CLIENT: &str = r#"
import base64, datetime, hashlib, socket, sys, time

def b64d(s):
    return base64.b64decode(s.replace('-', '+').replace('~', '/'))

def sam(host):
    s = socket.create_connection((host, 7656), timeout=180)
    f = s.makefile('rb')
    s.sendall(b'HELLO VERSION MIN=3.1 MAX=3.1\n')
    r = f.readline().decode().strip()
    if 'RESULT=OK' not in r:
        raise SystemExit('HELLO failed: ' + r)
    return s, f

def cmd(s, f, line):
    s.sendall((line + '\n').encode())
    return f.readline().decode().strip()

OPTS = ('inbound.length=0 outbound.length=0 inbound.quantity=1 outbound.quantity=1 '
        'i2cp.leaseSetEncType=4 SIGNATURE_TYPE=7')
mode, host = sys.argv[1], sys.argv[2]
sid = '%s%d' % (mode, int(time.time() * 1000) % 1000000)
if mode == 'publish':
    ours, others = b64d(sys.argv[3]), [b64d(x) for x in sys.argv[4:]]
    day = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d').encode()
    dist = lambda a, b: int.from_bytes(bytes(x ^ y for x, y in zip(a, b)), 'big')
    s, f = sam(host)
    for _ in range(200):
        kv = dict(p.split('=', 1) for p in cmd(s, f, 'DEST GENERATE SIGNATURE_TYPE=7').split()[2:])
        h = hashlib.sha256(b64d(kv['PUB'])).digest()
        rk = hashlib.sha256(h + day).digest()
        if all(dist(rk, ours) < dist(rk, o) for o in others):
            break
    else:
        raise SystemExit('no destination closer to floodgate')
    r = cmd(s, f, 'SESSION CREATE STYLE=STREAM ID=%s DESTINATION=%s %s' % (sid, kv['PRIV'], OPTS))
    if 'RESULT=OK' not in r:
        raise SystemExit('SESSION CREATE failed: ' + r[:200])
    print('DEST', base64.b32encode(h).decode().lower().rstrip('=') + '.b32.i2p', flush=True)
    sys.stdin.read()
elif mode == 'connect':
    dest, timeout = sys.argv[3], float(sys.argv[4])
    s, f = sam(host)
    r = cmd(s, f, 'SESSION CREATE STYLE=STREAM ID=%s DESTINATION=TRANSIENT %s' % (sid, OPTS))
    if 'RESULT=OK' not in r:
        raise SystemExit('SESSION CREATE failed: ' + r[:200])
    end = time.time() + timeout
    while True:
        c, cf = sam(host)
        r = cmd(c, cf, 'STREAM CONNECT ID=%s DESTINATION=%s SILENT=false' % (sid, dest))
        print('CONNECT', r, flush=True)
        c.close()
        if 'RESULT=OK' in r:
            break
        if time.time() > end:
            raise SystemExit('no connection before the timeout')
        time.sleep(3)
"#;

/// The identity hash (I2P base64) of router K of the testnet.
fn router_hash(tn: &Testnet, k: u32) -> String {
    let ri = tn.path().join(format!("r{k}/router.info"));
    let out = run_harness(&["hash", &ri.display().to_string()]);
    assert!(out.status.success(), "testnet.sh hash:\n{}", show(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Which testnet routers are no longer running (i2pd 2.45.1 has crash paths; a crash must fail
/// the test with a clear message instead of a timeout).
fn dead_routers(tn: &Testnet) -> Vec<u32> {
    let out = run_harness(&["status", &tn.arg()]);
    let text = String::from_utf8_lossy(&out.stdout);
    (1..=ROUTERS)
        .filter(|k| {
            text.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(&k.to_string().as_str()) && f.get(3) == Some(&"down")
            })
        })
        .collect()
}

/// The acceptance test of floodgate as a LeaseSet floodfill, with real i2pd routers only as
/// clients: an i2pd client destination publishes its LeaseSet2 to floodgate in a Noise-N
/// garlic to floodgate's router key; floodgate opens it, verifies and stores the LeaseSet and
/// acknowledges it; another i2pd router's destination looks the LeaseSet up through floodgate
/// (again garlic-wrapped, answered with an ECIES-encrypted reply down its inbound tunnel) and
/// gets it: its SAM STREAM CONNECT succeeds.
#[test]
fn floodfill_stores_and_serves_lease_sets_from_garlic() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED floodfill_stores_and_serves_lease_sets_from_garlic: {why}");
        return;
    }
    let _one = lock();
    let tn = Testnet::new();
    let fg_dir = tn.path().join("floodgate");
    let env = floodgate_env();

    // 1. Keys, then floodgate starts first and the i2pd routers, given floodgate's RouterInfo,
    // join it (floodgate learns them from their handshakes and DatabaseStores).
    let (fg_hash, ri_arg) = floodgate_keys(&fg_dir, &env);
    let mut fg = tn.up_floodgate_first(&["--reseed-ri", &ri_arg], &fg_dir, &env);
    let floodfills: Vec<String> = (1..=FLOODFILLS).map(|k| router_hash(&tn, k)).collect();

    // 2. A client destination on router 3 (not a floodfill) publishes its LeaseSet.
    let publisher_host = format!("198.18.0.{}", FLOODFILLS + 1);
    let mut publisher = Command::new("bash")
        .arg(harness())
        .args([
            "exec",
            &tn.arg(),
            "--",
            "python3",
            "-c",
            SAM_CLIENT,
            "publish",
        ])
        .arg(&publisher_host)
        .arg(&fg_hash)
        .args(&floodfills)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the SAM publisher");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = publisher.stdout.take().expect("publisher stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let b32 = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(l) if l.starts_with("DEST ") => break l[5..].trim().to_string(),
            Ok(_) => continue,
            Err(e) => {
                let _ = publisher.kill();
                let out = publisher.wait_with_output().expect("publisher output");
                panic!(
                    "no SAM session on router {}: {e}\n{}\n--- floodgate log\n{}",
                    FLOODFILLS + 1,
                    show(&out),
                    fg.log_text()
                );
            }
        }
    };
    eprintln!("publisher destination {b32}");

    // 3. floodgate opens the garlic, stores the LeaseSet2 and acknowledges it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut metrics;
    loop {
        metrics = fg.get("/metrics");
        let opened = metric_sum(
            &metrics,
            "floodgate_garlic_received_total",
            &["result=\"opened\""],
        );
        let ls2 = metric_sum(
            &metrics,
            "floodgate_netdb_entries",
            &["kind=\"lease_set2\""],
        );
        if opened >= 1.0 && ls2 >= 1.0 {
            eprintln!("garlic opened {opened}, LeaseSet2 held {ls2}");
            break;
        }
        let dead = dead_routers(&tn);
        assert!(dead.is_empty(), "i2pd routers {dead:?} died");
        if std::time::Instant::now() > deadline {
            panic!(
                "no LeaseSet2 stored from garlic after 90 s (garlic opened {opened}, lease_set2 {ls2})\n\
                 --- metrics\n{}\n--- floodgate log\n{}",
                metric_lines(
                    &metrics,
                    &["floodgate_garlic", "floodgate_i2np", "floodgate_netdb"]
                ),
                fg.log_text()
            );
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert_eq!(
        metric_sum(
            &metrics,
            "floodgate_garlic_received_total",
            &["result=\"refused\""]
        ),
        0.0,
        "no garlic from i2pd may be refused:\n{metrics}"
    );
    assert!(
        metric_sum(
            &metrics,
            "floodgate_netdb_stores_total",
            &["result=\"accepted\""]
        ) >= 1.0,
        "{metrics}"
    );

    // 3b. floodgate floods the LeaseSet to the other floodfills: its flood counter rises and an
    // i2pd floodfill lists the LeaseSet in its netDb.
    let b32_hash = b32.trim_end_matches(".b32.i2p").to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let holders = loop {
        let floods = metric_sum(
            &fg.get("/metrics"),
            "floodgate_netdb_flood_sends_total",
            &[],
        );
        let holders: Vec<u32> = (1..=FLOODFILLS)
            .filter(|&k| {
                let out = run_harness(&[
                    "exec",
                    &tn.arg(),
                    "--",
                    "curl",
                    "-s",
                    "--max-time",
                    "5",
                    &format!("http://198.18.0.{k}:7070/?page=leasesets"),
                ]);
                String::from_utf8_lossy(&out.stdout).contains(&b32_hash)
            })
            .collect();
        if floods >= 1.0 && !holders.is_empty() {
            eprintln!(
                "flooded: {floods} flood sends; i2pd floodfills holding the LeaseSet: {holders:?}"
            );
            break holders;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the LeaseSet did not reach an i2pd floodfill within 60 s (flood sends {floods}, holders {holders:?})\n{}",
            fg.log_text()
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    };
    assert!(!holders.is_empty());
    let found_before = metric_sum(
        &metrics,
        "floodgate_netdb_lookups_total",
        &["type=\"lease_set\"", "result=\"found\""],
    );

    // 4. A destination on router 4 looks the LeaseSet up (through floodgate, the closest
    // floodfill) and connects.
    let connector_host = format!("198.18.0.{}", FLOODFILLS + 2);
    let out = Command::new("bash")
        .arg(harness())
        .args([
            "exec",
            &tn.arg(),
            "--",
            "python3",
            "-c",
            SAM_CLIENT,
            "connect",
        ])
        .arg(&connector_host)
        .arg(&b32)
        .arg("90")
        .output()
        .expect("run the SAM connector");
    let said = String::from_utf8_lossy(&out.stdout);
    let metrics = fg.get("/metrics");
    let found_after = metric_sum(
        &metrics,
        "floodgate_netdb_lookups_total",
        &["type=\"lease_set\"", "result=\"found\""],
    );
    assert!(
        out.status.success() && said.contains("RESULT=OK"),
        "router {} could not reach {b32}:\n{}\n--- metrics\n{}\n--- floodgate log\n{}",
        FLOODFILLS + 2,
        show(&out),
        metric_lines(&metrics, &["floodgate_garlic", "floodgate_netdb"]),
        fg.log_text()
    );
    assert!(
        found_after > found_before,
        "the LeaseSet lookup did not reach floodgate (found {found_before} -> {found_after})\n\
         --- metrics\n{}\n--- router {} log (lookups)\n{}",
        metric_lines(&metrics, &["floodgate_netdb_lookups", "floodgate_garlic"]),
        FLOODFILLS + 2,
        tn.log(FLOODFILLS + 2)
            .lines()
            .filter(|l| l.contains("LeaseSet")
                || l.contains("Transports:")
                || l.contains("NTCP2: Connect"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("connect: {}", said.trim());
    let dead = dead_routers(&tn);
    assert!(dead.is_empty(), "i2pd routers {dead:?} died");

    // 5. Clean up: the publisher's session, floodgate, the testnet.
    drop(publisher.stdin.take());
    let _ = publisher.wait();
    let st = fg.stop();
    assert!(st.success(), "floodgate exit {st}\n{}", fg.log_text());
    drop(fg);
    let out = tn.down();
    assert!(out.status.success(), "testnet down failed:\n{}", show(&out));
}

/// Transit drop reasons that mean floodgate or its peers got the protocol wrong: none may
/// occur while i2pd routes real traffic through floodgate.
const PROTOCOL_DROPS: &[&str] = &[
    "wrong_previous_hop",
    "malformed",
    "wrong_role",
    "checksum",
    "bad_instructions",
    "bad_message",
    "bad_fragment_number",
];

/// A helper process inside the namespace that must not outlive the test (or `down` would find
/// the namespace busy).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Per-role transit counters of floodgate, read from `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
struct RoleTraffic {
    messages: f64,
    bytes_in: f64,
    bytes_out: f64,
}

fn role_traffic(metrics: &str, role: &str) -> RoleTraffic {
    let r = format!("role=\"{role}\"");
    RoleTraffic {
        messages: metric_sum(metrics, "floodgate_transit_messages_total", &[&r]),
        bytes_in: metric_sum(
            metrics,
            "floodgate_transit_bytes_total",
            &[&r, "direction=\"in\""],
        ),
        bytes_out: metric_sum(
            metrics,
            "floodgate_transit_bytes_total",
            &[&r, "direction=\"out\""],
        ),
    }
}

/// The acceptance test of floodgate as a relay: i2pd routers build their client tunnels through
/// floodgate in every role (i2pd's `explicitPeers` pins the hops) and a real HTTP download
/// crosses them end to end:
///
/// ```text
/// request:  r4 proxy -> [floodgate participant] -> r1 OBEP -> [floodgate IBGW] -> r3 site
/// response: r3 site -> [floodgate OBEP] -> r1 IBGW -> [floodgate participant] -> r4 proxy
/// ```
///
/// The payload must arrive intact, and floodgate's per-role transit counters must rise by at
/// least the payload size where the response crosses it (OBEP in, participant in and out).
#[test]
fn transit_tunnels_carry_http_through_every_role() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED transit_tunnels_carry_http_through_every_role: {why}");
        return;
    }
    const PAYLOAD_LEN: usize = 1 << 20;
    let _one = lock();
    let tn = Testnet::new();
    let fg_dir = tn.path().join("floodgate");
    let mut env = floodgate_env();
    env.push(("FLOODGATE_TRANSIT__DRAIN_SECONDS", "120".into()));
    let (fg_hash, ri_arg) = floodgate_keys(&fg_dir, &env);
    let mut fg = tn.up_floodgate_first(&["--reseed-ri", &ri_arg], &fg_dir, &env);
    let r1 = router_hash(&tn, 1);
    // floodgate started knowing no router (no reseed): its first sessions are i2pd's, inbound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let inbound = loop {
        let hs = fg.get("/metrics");
        let n = metric_sum(
            &hs,
            "floodgate_ntcp2_handshakes_total",
            &["direction=\"inbound\"", "result=\"ok\""],
        );
        if n >= 1.0 {
            break n;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no i2pd router opened a session to floodgate:\n{}",
            metric_lines(&hs, &["floodgate_ntcp2"])
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    eprintln!("i2pd opened {inbound} inbound NTCP2 sessions to floodgate");

    // 1. A web server on router 3's address, and i2pd's HTTP server tunnel to it ("site"),
    // whose one-hop tunnels are floodgate: inbound gateway and outbound endpoint.
    let www = tn.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let payload: Vec<u8> = {
        use rand::RngCore;
        let mut p = vec![0u8; PAYLOAD_LEN];
        rand::thread_rng().fill_bytes(&mut p);
        p
    };
    std::fs::write(www.join("payload.bin"), &payload).unwrap();
    let web = KillOnDrop(
        Command::new("bash")
            .arg(harness())
            .args([
                "exec",
                &tn.arg(),
                "--",
                "python3",
                "-m",
                "http.server",
                "8080",
            ])
            .args(["--bind", "198.18.0.3", "--directory"])
            .arg(&www)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the web server"),
    );
    let explicit_fg = format!("explicitPeers={fg_hash}");
    // i2pd 2.45 publishes a LeaseSet once when its first inbound tunnel is up; if the outbound
    // one is not up yet it logs this line and does not try again until the tunnels change
    // (minutes). Such a site is replaced by a new one (new keys, new address).
    const NOT_READY: &str = "Can't publish LeaseSet. Destination is not ready";
    let make_site = |n: u32| -> (String, usize) {
        let unpublished = tn.log(3).matches(NOT_READY).count();
        let (name, keys) = (format!("site{n}"), format!("keys=site{n}.dat"));
        let out = run_harness(&[
            "tunnel",
            &tn.arg(),
            "3",
            &name,
            "type=http",
            "host=198.18.0.3",
            "port=8080",
            &keys,
            "signaturetype=7",
            "inbound.length=1",
            "outbound.length=1",
            "inbound.quantity=1",
            "outbound.quantity=1",
            &explicit_fg,
        ]);
        assert!(out.status.success(), "site tunnel:\n{}", show(&out));
        let out = run_harness(&["b32", &tn.arg(), "3", &format!("site{n}.dat")]);
        assert!(out.status.success(), "site address:\n{}", show(&out));
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            unpublished,
        )
    };
    let mut site_no = 0;
    let (mut site, mut unpublished_before) = make_site(site_no);

    // 2. An HTTP proxy on router 4 whose two-hop tunnels start at floodgate (a participant both
    // ways) and end at router 1.
    let explicit_fg_r1 = format!("explicitPeers={fg_hash},{r1}");
    let out = run_harness(&[
        "tunnel",
        &tn.arg(),
        "4",
        "via",
        "type=httpproxy",
        "address=198.18.0.4",
        "port=4445",
        "inbound.length=2",
        "outbound.length=2",
        "inbound.quantity=1",
        "outbound.quantity=1",
        &explicit_fg_r1,
    ]);
    assert!(out.status.success(), "proxy tunnel:\n{}", show(&out));

    // 3. Fetch through the proxy until it works (the tunnels and the site's LeaseSet take a few
    // seconds), then fetch again with the counters read on both sides of that second fetch.
    let got = tn.path().join("got.bin");
    let fetch = |site: &str| -> (bool, String) {
        let _ = std::fs::remove_file(&got);
        let url = format!("http://{site}/payload.bin");
        let got_arg = got.display().to_string();
        let out = run_harness(&[
            "exec",
            &tn.arg(),
            "--",
            "curl",
            "-s",
            "--max-time",
            "90",
            "-x",
            "http://198.18.0.4:4445",
            "-o",
            &got_arg,
            "-w",
            "%{http_code} %{size_download} %{time_total}",
            &url,
        ]);
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        let ok =
            said.starts_with("200 ") && std::fs::read(&got).ok().as_deref() == Some(&payload[..]);
        (ok, said)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (ok, said) = fetch(&site);
        if ok {
            eprintln!("first fetch through floodgate after {attempts} attempt(s): {said}");
            break;
        }
        if tn.log(3).matches(NOT_READY).count() > unpublished_before && site_no < 3 {
            site_no += 1;
            eprintln!(
                "i2pd did not publish the site's LeaseSet (\"{NOT_READY}\"): new site {site_no}"
            );
            (site, unpublished_before) = make_site(site_no);
        }
        let dead = dead_routers(&tn);
        assert!(dead.is_empty(), "i2pd routers {dead:?} died");
        if std::time::Instant::now() > deadline {
            let metrics = fg.get("/metrics");
            panic!(
                "no download through floodgate's tunnels within 240 s (last curl: {said})\n\
                 --- metrics\n{}\n--- floodgate log\n{}",
                metric_lines(
                    &metrics,
                    &[
                        "floodgate_transit",
                        "floodgate_ntcp2_sessions",
                        "floodgate_netdb",
                        "floodgate_garlic",
                        "floodgate_i2np"
                    ]
                ),
                fg.log_text()
            );
        }
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    let before = fg.get("/metrics");
    let (ok, said) = fetch(&site);
    let after = fg.get("/metrics");
    assert!(ok, "second fetch failed: {said}");
    eprintln!("second fetch: {said}");
    eprintln!(
        "transit counters after:\n{}",
        metric_lines(
            &after,
            &[
                "floodgate_transit_tunnels",
                "floodgate_transit_messages_total",
                "floodgate_transit_bytes_total",
                "floodgate_transit_build_requests_total"
            ]
        )
    );

    // 4. Every role carried this download.
    let len = PAYLOAD_LEN as f64;
    let delta = |role: &str| {
        let (b, a) = (role_traffic(&before, role), role_traffic(&after, role));
        RoleTraffic {
            messages: a.messages - b.messages,
            bytes_in: a.bytes_in - b.bytes_in,
            bytes_out: a.bytes_out - b.bytes_out,
        }
    };
    let (participant, ibgw, obep) = (delta("participant"), delta("ibgw"), delta("obep"));
    eprintln!("during the second fetch: participant {participant:?}, ibgw {ibgw:?}, obep {obep:?}");
    assert!(
        participant.bytes_in >= len && participant.bytes_out >= len,
        "the response crosses floodgate as a participant: {participant:?}"
    );
    assert!(
        obep.bytes_in >= len && obep.bytes_out >= len,
        "the response leaves the site's outbound tunnel at floodgate: {obep:?}"
    );
    assert!(
        ibgw.messages >= 1.0 && ibgw.bytes_out >= 1028.0,
        "the request enters the site's inbound tunnel at floodgate: {ibgw:?}"
    );
    for role in ["participant", "ibgw", "obep"] {
        let n = metric_sum(
            &after,
            "floodgate_transit_tunnels",
            &[&format!("role=\"{role}\"")],
        );
        assert!(n >= 1.0, "no {role} tunnel held at the end:\n{after}");
    }
    for reason in PROTOCOL_DROPS {
        let n = metric_sum(
            &after,
            "floodgate_transit_drops_total",
            &[&format!("reason=\"{reason}\"")],
        );
        assert_eq!(n, 0.0, "transit drops for {reason}:\n{}", fg.log_text());
    }
    let status: serde_json::Value = serde_json::from_str(&fg.get("/status")).expect("status JSON");
    eprintln!("status.transit: {}", status["transit"]);
    let dead = dead_routers(&tn);
    assert!(dead.is_empty(), "i2pd routers {dead:?} died");

    // 5. Drain: SIGTERM withdraws readiness and refuses new tunnels, but the tunnels floodgate
    // carries keep forwarding: the site still downloads through them. A second SIGTERM stops.
    let pid = fg.child.id().to_string();
    let term = || {
        let st = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(st.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    };
    term();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        matches!(fg.child.try_wait(), Ok(None)),
        "floodgate exited at the first SIGTERM although it carries tunnels:\n{}",
        fg.log_text()
    );
    let readyz = fg.get("/readyz");
    assert!(
        readyz.contains("draining"),
        "readyz while draining: {readyz}"
    );
    let before = fg.get("/metrics");
    let (ok, said) = fetch(&site);
    assert!(
        ok,
        "download during the drain failed: {said}\n{}",
        fg.log_text()
    );
    let after = fg.get("/metrics");
    let moved = role_traffic(&after, "participant").bytes_out
        - role_traffic(&before, "participant").bytes_out;
    assert!(
        moved >= len,
        "the download during the drain did not cross floodgate ({moved} B)"
    );
    eprintln!("during the drain: {said}; participant forwarded {moved} B");
    let tunnels_left = metric_sum(&after, "floodgate_transit_tunnels", &[]);
    assert!(tunnels_left >= 1.0, "{after}");
    term();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let st = loop {
        if let Ok(Some(st)) = fg.child.try_wait() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "floodgate did not stop at the second SIGTERM:\n{}",
            fg.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(st.success(), "floodgate exit {st}\n{}", fg.log_text());
    let log = fg.log_text();
    assert!(log.contains("draining transit tunnels"), "{log}");
    assert!(log.contains("drain cut short by a second signal"), "{log}");

    // 6. Clean up.
    drop(web);
    let st = fg.stop();
    assert!(st.success(), "floodgate exit {st}\n{}", fg.log_text());
    drop(fg);
    let out = tn.down();
    assert!(out.status.success(), "testnet down failed:\n{}", show(&out));
}

/// A small HTTPS file server (Python's, with TLS) for the reseed test: serves `DIR` on
/// `IP:PORT` with the given certificate chain and key, logs each request line to stderr.
const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
root, ip, port, cert, key = sys.argv[1:6]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def log_message(self, fmt, *args):
        sys.stderr.write('REQUEST ' + (fmt % args) + '\n')
        sys.stderr.flush()
srv = http.server.ThreadingHTTPServer((ip, int(port)), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print('LISTENING', flush=True)
srv.serve_forever()
"#;

/// A test CA and a server certificate it signed for the reseed servers' addresses, made with
/// the openssl CLI (rustls refuses a CA certificate used as the server's own). Returns
/// (ca.pem, server chain.pem, server key.pem).
fn reseed_tls_material(dir: &Path, ips: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.pem");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let cert = dir.join("server.pem");
    let ext = dir.join("server.ext");
    let san: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
    std::fs::write(
        &ext,
        format!(
            "subjectAltName={}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            san.join(",")
        ),
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}:\n{}", show(&out));
    };
    let p = |x: &PathBuf| x.display().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
        "-days",
        "2",
        "-subj",
        "/CN=floodgate test reseed CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
        "-subj",
        "/CN=floodgate test reseed server",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-out",
        &p(&cert),
        "-days",
        "2",
        "-extfile",
        &p(&ext),
    ]);
    (ca, cert, key)
}

/// A reseed su3 (zip of `routerInfo-*.dat`) signed RSA-4096 by `signer` with the test key of
/// tests/data/reseed, or, when `forged`, by a fresh key nobody trusts that claims `signer`.
fn reseed_su3(router_infos: &[Vec<u8>], signer: &str, forged: bool) -> Vec<u8> {
    let names: Vec<String> = router_infos
        .iter()
        .enumerate()
        .map(|(i, _)| format!("routerInfo-{i}.dat"))
        .collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .zip(router_infos)
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let zip = floodgate::wire::zip::write_zip(&entries, true);
    let key = if forged {
        // The signature is well-formed, but no trusted certificate holds this key.
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 4096).unwrap()
    } else {
        use rsa::pkcs8::DecodePrivateKey;
        let pem = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reseed/rsa4096-test.key.pem"),
        )
        .unwrap();
        rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
    };
    floodgate::netdb::testkit::rsa_su3(
        &key,
        signer,
        floodgate::wire::su3::CONTENT_TYPE_RESEED,
        &zip,
    )
}

/// Cold start the way a new operator's router starts on the live network, in the testnet: a
/// fresh floodgate (empty data dir, no reseed files, no peer knows it) whose only bootstrap is
/// HTTPS reseeding. Two servers run in the namespace: a good one serving an su3 of the i2pd
/// routers' RouterInfos signed by a trusted signer, and a hostile one serving a bundle of
/// made-up routers signed by a key that claims a trusted signer's name. floodgate must load
/// exactly the good bundle, refuse the hostile one, become ready, open sessions to the i2pd
/// routers, publish itself, and then serve as a floodfill to them (they store at it and look
/// up through it).
#[test]
fn cold_start_from_https_reseed_serves_as_floodfill() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED cold_start_from_https_reseed_serves_as_floodfill: {why}");
        return;
    }
    let _one = lock();
    let tn = Testnet::new();
    // 1. The i2pd network, which has never heard of floodgate.
    tn.up(&[]);

    // 2. The two bundles and the two HTTPS servers at addresses reserved for this test.
    let good_ip = "198.18.0.101";
    let bad_ip = "198.18.0.102";
    let (ca, cert, key) = reseed_tls_material(&tn.path().join("reseed-tls"), &[good_ip, bad_ip]);
    let i2pd_ris: Vec<Vec<u8>> = (1..=ROUTERS)
        .map(|k| std::fs::read(tn.path().join(format!("r{k}/router.info"))).unwrap())
        .collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // Made-up floodfills of this network, validly self-signed: only the bundle's signature
    // betrays them.
    let fake_ris: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            floodgate::netdb::testkit::router(NET_ID, true, now_ms)
                .info
                .as_bytes()
                .to_vec()
        })
        .collect();
    let signer = "floodgate-test@mail.i2p";
    let mut servers = Vec::new();
    for (ip, bundle) in [
        (good_ip, reseed_su3(&i2pd_ris, signer, false)),
        (bad_ip, reseed_su3(&fake_ris, signer, true)),
    ] {
        let root = tn.path().join(format!("reseed-{ip}"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("i2pseeds.su3"), bundle).unwrap();
        let log = std::fs::File::create(tn.path().join(format!("reseed-{ip}.log"))).unwrap();
        let mut child = Command::new("bash")
            .arg(harness())
            .args(["exec", &tn.arg(), "--", "python3", "-u", "-c", HTTPS_SERVER])
            .arg(&root)
            .arg(ip)
            .arg("443")
            .arg(&cert)
            .arg(&key)
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start an HTTPS reseed server");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "LISTENING", "reseed server {ip} did not start");
        servers.push(KillOnDrop(child));
    }
    let requests = |ip: &str| {
        std::fs::read_to_string(tn.path().join(format!("reseed-{ip}.log")))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("REQUEST ") && l.contains("/i2pseeds.su3?netid=99"))
            .count()
    };

    // 3. floodgate, fresh: the servers and their signer are its only way in. Two servers must
    // answer before a reseed is complete, so both are always asked (in random order).
    let fg_dir = tn.path().join("floodgate");
    std::fs::create_dir_all(&fg_dir).unwrap();
    let mut env = floodgate_env();
    env.extend([
        (
            "FLOODGATE_RESEED__URLS",
            format!("https://{good_ip}/,https://{bad_ip}/"),
        ),
        ("FLOODGATE_RESEED__MIN_SERVERS", "2".into()),
        ("FLOODGATE_RESEED__THRESHOLD", ROUTERS.to_string()),
        ("FLOODGATE_RESEED__BUILTIN_CERTIFICATES", "false".into()),
        (
            "FLOODGATE_RESEED__CERTIFICATES",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/reseed")
                .display()
                .to_string(),
        ),
        ("FLOODGATE_RESEED__TLS_ROOTS", ca.display().to_string()),
        ("FLOODGATE_READINESS__MIN_ROUTER_INFOS", ROUTERS.to_string()),
    ]);
    let mut fg = FloodgateInNetns::start(&tn, &fg_dir, &env);
    fg.wait_log("reseed done", std::time::Duration::from_secs(60));
    let metrics = fg.get("/metrics");
    let https_loaded = metric_sum(
        &metrics,
        "floodgate_reseed_router_infos_total",
        &["source=\"https\"", "result=\"loaded\""],
    );
    assert_eq!(
        https_loaded,
        f64::from(ROUTERS),
        "exactly the good bundle's RouterInfos are loaded\n{}\n--- log\n{}",
        metric_lines(&metrics, &["floodgate_reseed"]),
        fg.log_text()
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "floodgate_reseed_sources_total",
            &["source=\"https\"", "result=\"failed\""]
        ),
        1.0,
        "the hostile server's bundle is refused\n{}",
        metric_lines(&metrics, &["floodgate_reseed"])
    );
    assert!(
        fg.log_text()
            .contains(&format!("su3 signature by `{signer}` does not verify")),
        "the refusal names the forged signature:\n{}",
        fg.log_text()
    );
    assert_eq!(
        (requests(good_ip), requests(bad_ip)),
        (1, 1),
        "each server asked once"
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "floodgate_reseed_runs_total",
            &["result=\"partial\""]
        ),
        1.0,
        "one of two servers answered: the run is partial\n{}",
        metric_lines(&metrics, &["floodgate_reseed"])
    );
    // The hostile bundle is refused as a whole before any of its entries is read, so the
    // netDb holds the i2pd routers (and floodgate itself) and nothing else.
    let held = metric_sum(
        &metrics,
        "floodgate_netdb_entries",
        &["kind=\"router_info\""],
    );
    assert!(
        held <= f64::from(ROUTERS) + 1.0,
        "{held} RouterInfos held after the reseed\n{}",
        metric_lines(&metrics, &["floodgate_netdb_entries"])
    );

    // 4. Ready (netDb and sessions), with outbound sessions to the i2pd routers it learned from
    // the bundle, and its RouterInfo stored by an i2pd floodfill.
    let (fg_hash, _) = floodgate_keys(&fg_dir, &env);
    let added = format!("RouterInfo added: {fg_hash}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let ready = fg.get("/readyz");
        let metrics = fg.get("/metrics");
        let out_ok = metric_sum(
            &metrics,
            "floodgate_ntcp2_handshakes_total",
            &["direction=\"outbound\"", "result=\"ok\""],
        );
        let stored_at_i2pd = (1..=FLOODFILLS).any(|k| tn.log(k).contains(&added));
        if ready.contains("\"ready\":true") && out_ok >= 1.0 && stored_at_i2pd {
            eprintln!("ready; outbound sessions {out_ok}; floodgate's RouterInfo stored by i2pd");
            break;
        }
        let dead = dead_routers(&tn);
        assert!(dead.is_empty(), "i2pd routers {dead:?} died");
        assert!(
            std::time::Instant::now() < deadline,
            "not ready with sessions and a stored RouterInfo within 120 s (ready: {ready:?}, \
             outbound ok {out_ok}, stored at i2pd {stored_at_i2pd})\n{}\n--- log\n{}",
            metric_lines(
                &metrics,
                &["floodgate_ntcp2", "floodgate_netdb", "floodgate_reseed"]
            ),
            fg.log_text()
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    }

    // 5. The i2pd routers, having learned floodgate as a floodfill from the network, use it:
    // they look routers up at it (exploration, searches) and store at it (floods, publications,
    // often of a RouterInfo floodgate already holds, which it checks and answers as not newer).
    // None of what they send may be refused as invalid.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let metrics = fg.get("/metrics");
        let lookups = metric_sum(&metrics, "floodgate_netdb_lookups_total", &[]);
        let stores = metric_sum(&metrics, "floodgate_netdb_stores_total", &[]);
        let refused = metric_sum(
            &metrics,
            "floodgate_netdb_stores_total",
            &["result=\"rejected\""],
        ) - metric_sum(
            &metrics,
            "floodgate_netdb_stores_total",
            &["result=\"rejected\"", "reason=\"not_newer\""],
        );
        assert_eq!(
            refused,
            0.0,
            "an i2pd store was refused as invalid\n{}",
            metric_lines(&metrics, &["floodgate_netdb_stores"])
        );
        if lookups >= 1.0 && stores >= 1.0 {
            eprintln!(
                "serving as floodfill: {lookups} lookups answered, {stores} stores handled\n{}",
                metric_lines(
                    &metrics,
                    &["floodgate_netdb_stores", "floodgate_netdb_lookups"]
                )
            );
            break;
        }
        let dead = dead_routers(&tn);
        assert!(dead.is_empty(), "i2pd routers {dead:?} died");
        assert!(
            std::time::Instant::now() < deadline,
            "the i2pd routers did not use floodgate as a floodfill within 180 s (lookups \
             {lookups}, stores {stores})\n{}\n--- log\n{}",
            metric_lines(&metrics, &["floodgate_netdb", "floodgate_i2np"]),
            fg.log_text()
        );
        std::thread::sleep(std::time::Duration::from_secs(3));
    }

    let st = fg.stop();
    assert!(st.success(), "floodgate exit {st}\n{}", fg.log_text());
    drop(fg);
    drop(servers);
    let out = tn.down();
    assert!(out.status.success(), "testnet down failed:\n{}", show(&out));
}

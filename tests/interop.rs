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
        let started = std::time::Instant::now();
        let out = run_harness(&args);
        eprintln!(
            "testnet up took {:.1}s\n{}",
            started.elapsed().as_secs_f64(),
            show(&out)
        );
        assert!(out.status.success(), "testnet up failed:\n{}", show(&out));
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

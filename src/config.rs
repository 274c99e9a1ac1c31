//! Configuration: embedded defaults, then a YAML file, then `FLOODGATE_…` environment variables,
//! then command-line flags. The merged tree is deserialized strictly (unknown keys are errors) and
//! validated; every error names the key and the reason.
//!
//! Environment mapping: `FLOODGATE_` + the key path in upper case, with `__` between nesting levels
//! (`FLOODGATE_NET_ID`, `FLOODGATE_NTCP2__PORT`, `FLOODGATE_TRANSIT__MAX_TUNNELS`). Values are read
//! as YAML scalars (`true`, `4567`, `info`); list keys take comma-separated values
//! (`FLOODGATE_RESEED__URLS=https://a/,https://b/`).

use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "FLOODGATE_";
/// Environment variables with the prefix that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["FLOODGATE_CONFIG", "FLOODGATE_HEALTHCHECK_ADDR"];

/// Kubernetes injects "service links" for every Service in the namespace: a Service named
/// `floodgate` yields FLOODGATE_PORT, FLOODGATE_PORT_7670_TCP_ADDR, FLOODGATE_SERVICE_HOST, ...
/// They are not configuration and must not stop the router as unknown keys.
fn is_service_link(var: &str) -> bool {
    let rest = &var[ENV_PREFIX.len()..];
    rest == "PORT" || rest.starts_with("PORT_") || rest.starts_with("SERVICE_")
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML: {source}")]
    Syntax {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("config key `{key}`: {reason}")]
    Key { key: String, reason: String },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
}

impl ConfigError {
    fn key(key: &str, reason: impl Into<String>) -> Self {
        Self::Key {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for keys, router.info and the RocksDB netDb.
    pub data_dir: PathBuf,
    /// I2P network id; 2 is the real network. Peers with another id are refused.
    pub net_id: u8,
    /// Address published in our RouterInfo (IPv4 or IPv6). Without it the router is reachable
    /// only through connections it makes itself.
    pub host: Option<IpAddr>,
    pub ntcp2: Ntcp2Config,
    /// Act as a floodfill: store and serve netDb entries for the network.
    pub floodfill: bool,
    pub netdb: NetDbConfig,
    pub transit: TransitConfig,
    pub http: HttpConfig,
    pub reseed: ReseedConfig,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
    pub readiness: ReadinessConfig,
    pub family: FamilyConfig,
}

/// Router family: routers of one operator declare it so that peers never put two of them in one
/// tunnel (see `identity::family`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FamilyConfig {
    /// Family name published in our RouterInfo; `None`: no family.
    pub name: Option<String>,
    /// PEM file with the family's P-256 private key, shared by every router of the family;
    /// created when missing. `None`: `<data_dir>/family.key`.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ntcp2Config {
    pub enabled: bool,
    /// TCP port for NTCP2 (published in the RouterInfo).
    pub port: u16,
    /// Also listen on IPv6 (`[::]`).
    pub ipv6: bool,
    /// Local IPv4 address to listen on and connect from; `null` listens on all addresses.
    pub address: Option<std::net::Ipv4Addr>,
    /// Most NTCP2 sessions at once (inbound + outbound).
    pub max_sessions: u32,
    /// Most NTCP2 sessions from one IP address.
    pub max_sessions_per_ip: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetDbConfig {
    /// Oldest `router.version` (`a.b.c`) of a router counted as a floodfill (stored to,
    /// flooded to, listed in replies). 0.9.59 is i2pd's rule on the live network; lower it
    /// only for a private network of older routers.
    pub floodfill_min_version: String,
}

impl Default for NetDbConfig {
    fn default() -> Self {
        let (a, b, c) = crate::netdb::index::MIN_FLOODFILL_VERSION;
        Self {
            floodfill_min_version: format!("{a}.{b}.{c}"),
        }
    }
}

impl NetDbConfig {
    /// The parsed `floodfill_min_version` (validated at load, so the fallback is not reached).
    pub fn floodfill_min_version(&self) -> crate::netdb::index::Version {
        crate::netdb::index::parse_version(&self.floodfill_min_version)
            .unwrap_or(crate::netdb::index::MIN_FLOODFILL_VERSION)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadinessConfig {
    /// `/readyz` needs at least this many established peer sessions.
    pub min_peers: u32,
    /// `/readyz` needs at least this many RouterInfos in the netDb.
    pub min_router_infos: u32,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            min_peers: 1,
            min_router_infos: 25,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransitConfig {
    /// Most participating tunnels carried at once.
    pub max_tunnels: u32,
    /// Total bandwidth limit in KiB/s (1 KiB = 1024 bytes), each direction.
    pub bandwidth_kbps: u32,
    /// Share of the bandwidth offered to transit tunnels, percent.
    pub share_percent: u8,
    /// After SIGTERM, keep forwarding the transit tunnels we carry (accepting no new ones)
    /// until they expire or this many seconds pass; 0 stops at once. A second signal stops at
    /// once too.
    pub drain_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address of the ops HTTP server (/livez /readyz /metrics /status).
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReseedConfig {
    /// HTTPS reseed servers (`…/i2pseeds.su3?netid=N` is appended). `None` (the default) means
    /// the public servers embedded in floodgate when `net_id` is 2 and none on other networks;
    /// a list, even an empty one, replaces them.
    pub urls: Option<Vec<String>>,
    /// Local reseed sources: folders of routerInfo-*.dat, .zip or .su3 files.
    pub files: Vec<PathBuf>,
    /// Trust the su3 signer certificates embedded in floodgate (the public reseed operators').
    pub builtin_certificates: bool,
    /// More trusted su3 signer certificates: PEM X.509 files or folders of `*.crt`
    /// (e.g. i2pd's `/usr/share/i2pd/certificates/reseed`), in addition to the embedded ones.
    pub certificates: Vec<PathBuf>,
    /// Extra CA certificates (PEM) trusted for the reseed servers' TLS, besides the embedded
    /// web PKI roots.
    pub tls_roots: Vec<PathBuf>,
    /// Reseed when the netDb holds fewer RouterInfos than this (or than
    /// `readiness.min_router_infos`, whichever is larger).
    pub threshold: u32,
    /// A reseed goes on until this many distinct servers (by host) have answered a valid
    /// bundle, even when the netDb is already above the threshold, so that no single server
    /// chooses the whole netDb.
    pub min_servers: u32,
    /// Wait after a reseed that left the netDb below the threshold before trying again; doubles
    /// with each further try, up to 6 hours.
    pub retry_seconds: u32,
}

impl Default for ReseedConfig {
    fn default() -> Self {
        Self {
            urls: None,
            files: Vec::new(),
            builtin_certificates: true,
            certificates: Vec::new(),
            tls_roots: Vec::new(),
            threshold: 50,
            min_servers: 4,
            retry_seconds: 600,
        }
    }
}

impl ReseedConfig {
    /// The HTTPS servers to use on network `net_id`: the configured list, else the embedded
    /// public servers on the real network (2) only. A private network never reaches out to
    /// the public servers by default.
    pub fn effective_urls(&self, net_id: u8) -> Vec<String> {
        match &self.urls {
            Some(u) => u.clone(),
            None if net_id == 2 => crate::netdb::reseed::embedded::DEFAULT_URLS
                .iter()
                .map(|u| u.to_string())
                .collect(),
            None => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: a level (`info`) or directives (`info,floodgate::transport=debug`).
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP endpoint (e.g. `http://otel-collector:4318`); spans are exported when set.
    pub otlp_endpoint: Option<String>,
    /// `service.name` resource attribute of exported spans.
    pub service_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("floodgate-data"),
            net_id: 2,
            host: None,
            ntcp2: Ntcp2Config::default(),
            floodfill: true,
            netdb: NetDbConfig::default(),
            transit: TransitConfig::default(),
            http: HttpConfig::default(),
            reseed: ReseedConfig::default(),
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            readiness: ReadinessConfig::default(),
            family: FamilyConfig::default(),
        }
    }
}

impl Default for Ntcp2Config {
    fn default() -> Self {
        Self {
            enabled: true,
            port: 12345,
            ipv6: true,
            address: None,
            max_sessions: 4096,
            max_sessions_per_ip: 4,
        }
    }
}

impl Default for TransitConfig {
    fn default() -> Self {
        Self {
            max_tunnels: 10_000,
            bandwidth_kbps: 10_240,
            share_percent: 80,
            // Tunnels live 10 minutes; 540 s lets nearly all of them finish and still exits
            // before Kubernetes' default terminationGracePeriodSeconds in the chart (600).
            drain_seconds: 540,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 7670)),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "floodgate".into(),
        }
    }
}

/// Command-line overrides (highest precedence). `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub http_listen: Option<SocketAddr>,
    pub log_level: Option<String>,
}

impl Config {
    /// Load the layered configuration. `file` is optional: without it the embedded defaults plus
    /// environment apply. `env` is passed in (not read from the process) so tests stay hermetic.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut tree = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let v: Value =
                    serde_yaml::from_str(&text).map_err(|source| ConfigError::Syntax {
                        path: path.to_path_buf(),
                        source,
                    })?;
                match v {
                    Value::Null => Value::Mapping(Default::default()),
                    Value::Mapping(_) => v,
                    _ => return Err(ConfigError::key("(top level)", "must be a mapping of keys")),
                }
            }
            None => Value::Mapping(Default::default()),
        };
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        for (var, value) in env {
            apply_env(&mut tree, &var, &value)?;
        }
        let mut cfg = Self::from_tree(tree)?;
        if let Some(d) = &overrides.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(l) = overrides.http_listen {
            cfg.http.listen = l;
        }
        if let Some(l) = &overrides.log_level {
            cfg.log.level = l.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parse a YAML document (no env, no validation) — used by `load` and by tests.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let v: Value = serde_yaml::from_str(text).map_err(|source| ConfigError::Syntax {
            path: PathBuf::from("<string>"),
            source,
        })?;
        Self::from_tree(if v.is_null() {
            Value::Mapping(Default::default())
        } else {
            v
        })
    }

    fn from_tree(tree: Value) -> Result<Self, ConfigError> {
        serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner().to_string();
            // serde_yaml appends a location that is meaningless for a merged tree; keep the reason.
            let reason = inner
                .split(" at line ")
                .next()
                .unwrap_or(&inner)
                .to_string();
            ConfigError::key(if key == "." { "(top level)" } else { &key }, reason)
        })
    }

    /// Semantic checks that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::key("data_dir", "must not be empty"));
        }
        if self.net_id == 0 {
            return Err(ConfigError::key(
                "net_id",
                "must be 1..=255 (2 is the real I2P network)",
            ));
        }
        if let Some(h) = self.host
            && (h.is_unspecified() || h.is_multicast())
        {
            return Err(ConfigError::key(
                "host",
                format!("{h} cannot be published as a router address"),
            ));
        }
        if self.ntcp2.enabled && self.ntcp2.port == 0 {
            return Err(ConfigError::key("ntcp2.port", "must be 1..=65535"));
        }
        if self.ntcp2.max_sessions == 0 || self.ntcp2.max_sessions_per_ip == 0 {
            return Err(ConfigError::key(
                if self.ntcp2.max_sessions == 0 {
                    "ntcp2.max_sessions"
                } else {
                    "ntcp2.max_sessions_per_ip"
                },
                "must be greater than 0",
            ));
        }
        if self.transit.share_percent > 100 {
            return Err(ConfigError::key("transit.share_percent", "must be 0..=100"));
        }
        if self.transit.bandwidth_kbps == 0 {
            return Err(ConfigError::key(
                "transit.bandwidth_kbps",
                "must be greater than 0",
            ));
        }
        for (i, u) in self.reseed.urls.iter().flatten().enumerate() {
            if !u.starts_with("https://") {
                return Err(ConfigError::key(
                    &format!("reseed.urls[{i}]"),
                    format!(
                        "`{u}` must be an https:// URL (reseed data is only trusted over TLS plus su3 signatures)"
                    ),
                ));
            }
        }
        if crate::netdb::index::parse_version(&self.netdb.floodfill_min_version).is_none() {
            return Err(ConfigError::key(
                "netdb.floodfill_min_version",
                format!(
                    "`{}` is not a router version like 0.9.59",
                    self.netdb.floodfill_min_version
                ),
            ));
        }
        if self.reseed.min_servers == 0 {
            return Err(ConfigError::key("reseed.min_servers", "must be at least 1"));
        }
        if self.reseed.retry_seconds == 0 {
            return Err(ConfigError::key(
                "reseed.retry_seconds",
                "must be greater than 0",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.level) {
            return Err(ConfigError::key(
                "log.level",
                format!("`{}` is not a valid filter: {e}", self.log.level),
            ));
        }
        if let Some(ep) = &self.telemetry.otlp_endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return Err(ConfigError::key(
                "telemetry.otlp_endpoint",
                format!("`{ep}` must be an http:// or https:// URL (OTLP/HTTP)"),
            ));
        }
        if self.telemetry.service_name.is_empty() {
            return Err(ConfigError::key(
                "telemetry.service_name",
                "must not be empty",
            ));
        }
        if let Some(name) = &self.family.name {
            crate::identity::family::FamilyName::new(name)
                .map_err(|reason| ConfigError::key("family.name", reason))?;
        }
        match &self.family.key_file {
            Some(p) if p.as_os_str().is_empty() => {
                return Err(ConfigError::key("family.key_file", "must not be empty"));
            }
            // A key without a name would never be used; say so rather than ignore it.
            Some(_) if self.family.name.is_none() => {
                return Err(ConfigError::key(
                    "family.key_file",
                    "is set but family.name is not",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Where the family key lives: `family.key_file`, else `<data_dir>/family.key`.
    pub fn family_key_path(&self) -> PathBuf {
        self.family
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::identity::family::KEY_FILE))
    }

    /// The documented example file: every key with its default.
    pub fn example_yaml() -> &'static str {
        include_str!("floodgate.example.yaml")
    }
}

/// Put one `FLOODGATE_…` variable into the YAML tree.
fn apply_env(tree: &mut Value, var: &str, value: &str) -> Result<(), ConfigError> {
    let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
        return Ok(());
    };
    if ENV_NOT_KEYS.contains(&var) || rest.is_empty() || is_service_link(var) {
        return Ok(());
    }
    let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::Env {
            var: var.into(),
            reason: "empty key segment".into(),
        });
    }
    // A comma-separated value becomes a list only where the default is a list, so that a
    // comma inside a scalar (a log filter) stays intact.
    let is_list = matches!(path.as_slice(), [a, b] if a == "reseed" && matches!(b.as_str(), "urls" | "files" | "certificates" | "tls_roots"));
    let parsed = if is_list {
        Value::Sequence(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        )
    } else if value.is_empty() {
        Value::Null
    } else {
        // Plain YAML scalar parse gives ints/bools their types; anything structured stays a string.
        match serde_yaml::from_str::<Value>(value) {
            Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
            _ => Value::String(value.into()),
        }
    };
    let mut node = tree;
    for (i, seg) in path.iter().enumerate() {
        let Value::Mapping(map) = node else {
            return Err(ConfigError::Env {
                var: var.into(),
                reason: format!("`{}` is not a section", path[..i].join(".")),
            });
        };
        let key = Value::String(seg.clone());
        if i + 1 == path.len() {
            map.insert(key, parsed);
            return Ok(());
        }
        node = map
            .entry(key)
            .or_insert_with(|| Value::Mapping(Default::default()));
        if node.is_null() {
            *node = Value::Mapping(Default::default());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.net_id, 2);
    }

    #[test]
    fn example_file_equals_defaults() {
        // The example documents every key with its default; if they drift, this fails.
        let c = Config::from_yaml(Config::example_yaml()).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(
            &f,
            "net_id: 7\nntcp2:\n  port: 1000\ntransit:\n  share_percent: 50\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&f),
            env(&[
                ("FLOODGATE_NTCP2__PORT", "2000"),
                ("FLOODGATE_FLOODFILL", "false"),
                (
                    "FLOODGATE_RESEED__URLS",
                    "https://a.example/, https://b.example/",
                ),
                ("FLOODGATE_HOST", "198.18.0.5"),
                (
                    "FLOODGATE_RESEED__CERTIFICATES",
                    "/etc/certs/a.crt,/etc/certs/b",
                ),
                ("FLOODGATE_LOG__LEVEL", "info,floodgate=debug"),
                ("FLOODGATE_FAMILY__NAME", "my-family"),
                ("FLOODGATE_FAMILY__KEY_FILE", "/secrets/family.key"),
                ("FLOODGATE_CONFIG", "ignored.yaml"),
                ("FLOODGATE_PORT", "tcp://10.0.0.1:7670"),
                ("FLOODGATE_PORT_7670_TCP_ADDR", "10.0.0.1"),
                ("FLOODGATE_SERVICE_HOST", "10.0.0.1"),
                ("OTHER", "x"),
            ]),
            &Overrides {
                data_dir: Some("/tmp/x".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.net_id, 7);
        assert_eq!(c.ntcp2.port, 2000);
        assert!(!c.floodfill);
        assert_eq!(c.transit.share_percent, 50);
        assert_eq!(
            c.reseed.urls,
            Some(vec![
                "https://a.example/".into(),
                "https://b.example/".into()
            ])
        );
        assert_eq!(
            c.reseed.certificates,
            vec![
                PathBuf::from("/etc/certs/a.crt"),
                PathBuf::from("/etc/certs/b")
            ]
        );
        assert_eq!(c.host, Some("198.18.0.5".parse().unwrap()));
        assert_eq!(c.log.level, "info,floodgate=debug");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.family.name.as_deref(), Some("my-family"));
        assert_eq!(c.family_key_path(), PathBuf::from("/secrets/family.key"));
    }

    #[test]
    fn family_keys_parse_and_default() {
        let c = Config::from_yaml("data_dir: /d\nfamily:\n  name: ops.example\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.family.name.as_deref(), Some("ops.example"));
        assert_eq!(c.family_key_path(), PathBuf::from("/d/family.key"));
        assert_eq!(Config::default().family, FamilyConfig::default());
        // An empty environment value unsets the key.
        let c = Config::load(
            None,
            env(&[("FLOODGATE_FAMILY__NAME", "")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.family.name, None);
        let (k, _) = key_err(Config::from_yaml("family:\n  nam: x\n"));
        assert_eq!(k, "family.nam");
    }

    fn key_err(r: Result<Config, ConfigError>) -> (String, String) {
        match r {
            Err(ConfigError::Key { key, reason }) => (key, reason),
            other => panic!("expected a key error, got {other:?}"),
        }
    }

    #[test]
    fn reseed_servers_default_to_the_public_ones_on_net_2_only() {
        let c = Config::default();
        let public = c.reseed.effective_urls(2);
        assert!(public.len() >= 5, "{public:?}");
        assert!(public.iter().all(|u| u.starts_with("https://")));
        assert!(c.reseed.effective_urls(99).is_empty());
        // An explicit list replaces them, and an empty one (FLOODGATE_RESEED__URLS=) means none.
        let c = Config::load(
            None,
            env(&[("FLOODGATE_RESEED__URLS", "")]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(c.reseed.effective_urls(2).is_empty());
        let c = Config::from_yaml("reseed:\n  urls: [\"https://mine.example/\"]").unwrap();
        assert_eq!(c.reseed.effective_urls(99), vec!["https://mine.example/"]);
    }

    #[test]
    fn unknown_keys_are_named() {
        let (k, r) = key_err(Config::from_yaml("transit:\n  max_tunnel: 5\n"));
        assert_eq!(k, "transit.max_tunnel");
        assert!(
            r.contains("unknown field `max_tunnel`, expected one of"),
            "{r}"
        );
        let (k, r) = key_err(Config::load(
            None,
            env(&[("FLOODGATE_NOPE", "1")]),
            &Overrides::default(),
        ));
        assert_eq!(k, "nope");
        assert!(r.contains("unknown field `nope`"), "{r}");
    }

    #[test]
    fn bad_values_are_named() {
        let (k, r) = key_err(Config::from_yaml("ntcp2:\n  port: 70000\n"));
        assert_eq!(k, "ntcp2.port");
        assert!(r.contains("70000"), "{r}");
        let (k, _) = key_err(Config::from_yaml("host: not-an-ip\n"));
        assert_eq!(k, "host");
        let (k, _) = key_err(Config::from_yaml("log:\n  format: xml\n"));
        assert_eq!(k, "log.format");
        let (k, _) = key_err(Config::load(
            None,
            env(&[("FLOODGATE_NET_ID", "abc")]),
            &Overrides::default(),
        ));
        assert_eq!(k, "net_id");
    }

    #[test]
    fn semantic_checks_name_the_key() {
        let check = |yaml: &str, want: &str| {
            let c = Config::from_yaml(yaml).unwrap();
            match c.validate() {
                Err(ConfigError::Key { key, .. }) => assert_eq!(key, want, "{yaml}"),
                other => panic!("{yaml}: expected error on {want}, got {other:?}"),
            }
        };
        check("net_id: 0", "net_id");
        check("transit:\n  share_percent: 101", "transit.share_percent");
        check("transit:\n  bandwidth_kbps: 0", "transit.bandwidth_kbps");
        check("ntcp2:\n  port: 0", "ntcp2.port");
        check("host: 0.0.0.0", "host");
        check(
            "reseed:\n  urls: [\"http://insecure.example/\"]",
            "reseed.urls[0]",
        );
        check("log:\n  level: \"info,=[\"", "log.level");
        check("reseed:\n  min_servers: 0", "reseed.min_servers");
        check(
            "netdb:\n  floodfill_min_version: \"0.9.x\"",
            "netdb.floodfill_min_version",
        );
        check("reseed:\n  retry_seconds: 0", "reseed.retry_seconds");
        check(
            "telemetry:\n  otlp_endpoint: \"grpc://x\"",
            "telemetry.otlp_endpoint",
        );
        check("family:\n  name: \"\"", "family.name");
        check("family:\n  name: My-Family", "family.name");
        check("family:\n  name: a/b", "family.name");
        check("family:\n  name: i2pd-dev", "family.name");
        check(
            &format!("family:\n  name: {}", "a".repeat(69)),
            "family.name",
        );
        check("family:\n  key_file: /k", "family.key_file");
        check("family:\n  name: x\n  key_file: \"\"", "family.key_file");
    }

    #[test]
    fn env_into_scalar_is_an_error_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, "net_id: 5\n").unwrap();
        let r = Config::load(
            Some(&f),
            env(&[("FLOODGATE_NET_ID__X", "1")]),
            &Overrides::default(),
        );
        assert!(matches!(r, Err(ConfigError::Env { var, .. }) if var == "FLOODGATE_NET_ID__X"));
        // Without a scalar in the way the nested value reaches serde, which names the key.
        let (k, _) = key_err(Config::load(
            None,
            env(&[("FLOODGATE_NET_ID__X", "1")]),
            &Overrides::default(),
        ));
        assert_eq!(k, "net_id");
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, "net_id: [1,\n").unwrap();
        let e = Config::load(Some(&f), Vec::new(), &Overrides::default()).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }));
        assert!(e.to_string().contains("bad.yaml"));
    }
}

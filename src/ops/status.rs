//! Router status shared between the rooms (writers) and the ops HTTP handlers (readers).
//! Counters are atomics so hot paths never take a lock to report; readiness conditions change
//! rarely and sit behind a mutex.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Facts about our own identity, fixed once the RouterInfo is built.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IdentitySummary {
    /// Router hash in I2P base64.
    pub router_hash: String,
    pub net_id: u8,
    pub caps: String,
    /// I2P router API version we announce (`router.version`).
    pub version: String,
    /// Our router family (`family.name`), if any.
    pub family: Option<String>,
}

/// What the last reseed run did (shown in `/status`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReseedSummary {
    pub finished_unix_s: u64,
    /// The netDb reached the target and enough servers answered.
    pub complete: bool,
    pub loaded: u64,
    pub servers_ok: u64,
    pub failed_sources: u64,
    /// Seconds until the next try while the netDb is still below the target.
    pub next_try_in_s: Option<u64>,
}

#[derive(Debug)]
pub struct RouterStatus {
    started: Instant,
    started_unix: u64,
    identity: Mutex<Option<IdentitySummary>>,
    reseed: Mutex<Option<ReseedSummary>>,
    pub peers_ntcp2: AtomicU64,
    pub netdb_router_infos: AtomicU64,
    pub netdb_lease_sets: AtomicU64,
    pub netdb_floodfills: AtomicU64,
    pub transit_tunnels: AtomicU64,
    draining: AtomicBool,
    /// Readiness conditions: name -> `None` when met, `Some(reason)` while not.
    conditions: Mutex<BTreeMap<&'static str, Option<String>>>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Why the router is not ready (empty when ready).
    pub reasons: Vec<String>,
}

impl RouterStatus {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            identity: Mutex::new(None),
            reseed: Mutex::new(None),
            peers_ntcp2: AtomicU64::new(0),
            netdb_router_infos: AtomicU64::new(0),
            netdb_lease_sets: AtomicU64::new(0),
            netdb_floodfills: AtomicU64::new(0),
            transit_tunnels: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            conditions: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn started_unix(&self) -> u64 {
        self.started_unix
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn set_identity(&self, id: IdentitySummary) {
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
    }

    pub fn set_reseed(&self, r: ReseedSummary) {
        *self.reseed.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }

    pub fn identity(&self) -> Option<IdentitySummary> {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Declare or update a readiness condition. `Ok(())` marks it met.
    pub fn set_condition(&self, name: &'static str, state: Result<(), String>) {
        self.conditions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, state.err());
    }

    /// Stop advertising readiness (SIGTERM): orchestrators stop routing new work here.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        if self.is_draining() {
            reasons.push("draining: shutting down".to_string());
        }
        let conds = self.conditions.lock().unwrap_or_else(|p| p.into_inner());
        if conds.is_empty() {
            reasons.push("starting: no subsystem has reported yet".to_string());
        }
        for (name, why) in conds.iter() {
            if let Some(why) = why {
                reasons.push(format!("{name}: {why}"));
            }
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }

    /// The `/status` document.
    pub fn snapshot(&self) -> serde_json::Value {
        let id = self.identity();
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "router_hash": id.as_ref().map(|i| i.router_hash.clone()),
            "net_id": id.as_ref().map(|i| i.net_id),
            "caps": id.as_ref().map(|i| i.caps.clone()),
            "version": id.as_ref().map(|i| i.version.clone()),
            "family": id.as_ref().and_then(|i| i.family.clone()),
            "reseed": self.reseed.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            "software_version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.uptime_s(),
            "ready": self.readiness().ready,
            "draining": self.is_draining(),
            "peers": { "ntcp2": l(&self.peers_ntcp2) },
            "netdb": {
                "router_infos": l(&self.netdb_router_infos),
                "lease_sets": l(&self.netdb_lease_sets),
                "floodfills": l(&self.netdb_floodfills),
            },
            "transit": { "tunnels": l(&self.transit_tunnels) },
        })
    }
}

impl Default for RouterStatus {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_conditions_and_drain() {
        let s = RouterStatus::new();
        assert!(!s.readiness().ready, "no conditions yet means starting");
        s.set_condition("router_info", Err("not yet written".into()));
        let r = s.readiness();
        assert!(!r.ready);
        assert_eq!(r.reasons, vec!["router_info: not yet written"]);
        s.set_condition("router_info", Ok(()));
        assert!(s.readiness().ready);
        s.start_draining();
        assert!(!s.readiness().ready);
        assert_eq!(s.snapshot()["draining"], true);
    }
}

//! RouterInfos written by a real i2pd (2.45.1, Debian) must parse, re-serialize byte for byte
//! and verify. The files in tests/data/i2pd/ were produced by running i2pd with
//! `--netid=99 --host=198.18.0.9` in a network namespace without connectivity (`unshare -n`)
//! for a few seconds and copying its router.info.

use floodgate::wire::keys::{CryptoType, SigType};
use floodgate::wire::{RouterInfo, VerifyError};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/i2pd")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_captured_router_info_round_trips_and_verifies() {
    let mut seen = 0;
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("routerinfo") && name.ends_with(".dat")) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let u = RouterInfo::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u.dangerous_inner().to_bytes(), bytes, "{name}: round trip");
        let ri = u.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        // The gzip form a DatabaseStore would carry comes back identical.
        let back = RouterInfo::from_gzip(&ri.to_gzip().unwrap()).unwrap();
        assert_eq!(
            back.dangerous_inner().as_bytes(),
            &bytes[..],
            "{name}: gzip"
        );
        seen += 1;
    }
    assert!(
        seen >= 2,
        "expected the captured router.info files, found {seen}"
    );
}

#[test]
fn i2pd_non_floodfill_fields() {
    let ri = RouterInfo::parse_verified(&read("routerinfo-ed25519-nonff.dat")).unwrap();
    let id = ri.identity();
    assert_eq!(id.sig_type(), SigType::EdDsaSha512Ed25519);
    assert_eq!(id.crypto_type(), CryptoType::X25519);
    // i2pd follows proposal 161: the padding is one 32-byte block repeated.
    let pad = id.padding();
    assert_eq!(pad.len(), 320);
    assert!(pad.chunks(32).all(|c| c == &pad[..32]));
    assert_eq!(ri.net_id(), Some(99));
    assert!(!ri.is_floodfill());
    assert!(ri.version().is_some_and(|v| v.starts_with("0.9.")));
    let ntcp2 = ri
        .addresses()
        .iter()
        .find(|a| a.transport() == "NTCP2")
        .expect("NTCP2 address");
    assert_eq!(ntcp2.host(), Some("198.18.0.9"));
    assert!(ntcp2.port().is_some());
    assert!(ntcp2.static_key().is_some());
    assert_eq!(ntcp2.i_param().map(|i| i.len()), Some(16));
    assert!(ri.addresses().iter().any(|a| a.transport() == "SSU2"));
}

#[test]
fn i2pd_floodfill_fields_and_tamper() {
    let bytes = read("routerinfo-ed25519-ff.dat");
    let ri = RouterInfo::parse_verified(&bytes).unwrap();
    assert!(ri.is_floodfill());
    assert_eq!(ri.net_id(), Some(99));
    // Change the netId value "99" to "98" inside the signed options: parses, fails to verify.
    let at = bytes
        .windows(9)
        .position(|w| w == b"netId=\x0299")
        .expect("netId option");
    let mut t = bytes.clone();
    t[at + 8] = b'8';
    let u = RouterInfo::parse(&t).unwrap();
    assert_eq!(u.dangerous_inner().net_id(), Some(98));
    assert!(matches!(u.verify(), Err(VerifyError::Signature(_))));
}

/// LeaseSet2s published by i2pd 2.45.1 client destinations in the private testnet (captured as
/// tests/data/i2pd/README.md describes): byte-exact round trip and signature verification.
#[test]
fn captured_lease_set2s_round_trip_and_verify() {
    use floodgate::wire::lease_set::LeaseSet2;
    let mut seen = 0;
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("leaseset2") && name.ends_with(".dat")) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let u = LeaseSet2::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u.dangerous_inner().to_bytes(), bytes, "{name}: round trip");
        assert!(
            !u.dangerous_inner().leases().is_empty(),
            "{name}: i2pd publishes leases"
        );
        assert!(
            u.dangerous_inner()
                .encryption_keys()
                .iter()
                .any(|k| k.crypto_type == CryptoType::X25519),
            "{name}: ECIES-X25519 key present"
        );
        // Verification does not depend on the set being current (captures expire in 10 min);
        // `now` only matters for offline signatures, which these do not carry.
        let published = u.dangerous_inner().header().published();
        let ls = u
            .clone()
            .verify(published)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            ls.store_key(),
            ls.header().destination().hash(),
            "{name}: store key"
        );
        // A flipped byte in a lease breaks the signature.
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 70] ^= 1;
        let bad = LeaseSet2::parse(&bad).unwrap();
        assert!(
            matches!(bad.verify(published), Err(VerifyError::Signature(_))),
            "{name}"
        );
        seen += 1;
    }
    assert!(seen >= 2, "expected the captured LeaseSet2 files");
}

//! Builders of real, signed netDb entries and the DatabaseStore messages carrying them, for the
//! netDb tests, benches and interop tools. Everything here is signed with freshly generated
//! keys through the production code paths (identity, wire encoders); nothing is canned.

use super::index::Hash;
use crate::crypto::SigningPrivateKey;
use crate::identity::{RouterInfoParams, RouterKeys, build_router_info};
use crate::wire::i2np::{DatabaseStore, StoreKind, StoreReply};
use crate::wire::keys::{CryptoType, SigType};
use crate::wire::lease_set::{
    EncryptedLeaseSet, EncryptionKey, LeaseSet2, LeaseSet2Header, MetaLease, MetaLeaseSet,
};
use crate::wire::{KeysAndCert, Lease2, Mapping, RouterInfo};
use std::net::{IpAddr, Ipv4Addr};

/// A router's keys and its signed RouterInfo.
pub struct TestRouter {
    pub keys: RouterKeys,
    pub info: RouterInfo,
}

impl TestRouter {
    pub fn hash(&self) -> Hash {
        self.info.hash()
    }
}

/// A RouterInfo signed by fresh keys: NTCP2 on 127.0.0.1, caps with `f` when `floodfill`.
/// An in-memory floodfill netDb on network 2 for `our_hash`, ready at once: what router-level
/// test fixtures stand on.
pub fn memory_netdb(
    our_hash: Hash,
    registry: &prometheus::Registry,
    status: std::sync::Arc<crate::ops::status::RouterStatus>,
    now_ms: u64,
) -> super::NetDb {
    super::NetDb::open(
        super::NetDbOptions {
            data_dir: None,
            net_id: 2,
            floodfill: true,
            our_hash,
            ready_min_router_infos: 0,
            floodfill_min_version: crate::netdb::index::MIN_FLOODFILL_VERSION,
        },
        registry,
        status,
        now_ms,
    )
    .expect("an in-memory netDb opens")
}

pub fn router(net_id: u8, floodfill: bool, published_ms: u64) -> TestRouter {
    let keys = RouterKeys::generate();
    let info = router_info_for(&keys, net_id, floodfill, published_ms);
    TestRouter { keys, info }
}

/// Re-sign a RouterInfo for existing keys (e.g. a newer version of the same router).
pub fn router_info_for(
    keys: &RouterKeys,
    net_id: u8,
    floodfill: bool,
    published_ms: u64,
) -> RouterInfo {
    let params = RouterInfoParams {
        net_id,
        floodfill,
        shared_kbps: 2048,
        host: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ntcp2_port: Some(12345),
        router_version: "0.9.67",
        congestion: None,
        family: None,
    };
    match build_router_info(keys, &params, published_ms) {
        Ok(ri) => ri.into_inner(),
        Err(e) => panic!("test RouterInfo does not build: {e}"),
    }
}

/// `ri` with its options changed by `edit` and signed again by `keys` (its router), so that
/// only what `edit` did is wrong with it.
pub fn router_info_edited(
    keys: &RouterKeys,
    ri: &RouterInfo,
    edit: impl FnOnce(&mut Vec<(String, String)>),
) -> RouterInfo {
    let mut opts: Vec<(String, String)> = ri
        .options()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    edit(&mut opts);
    let options = match Mapping::from_pairs(opts) {
        Ok(m) => m,
        Err(e) => panic!("edited options do not form a Mapping: {e}"),
    };
    let builder = ri.addresses().iter().fold(
        crate::wire::RouterInfoBuilder::new(ri.identity().clone(), ri.published()),
        |b, a| b.address(a.clone()),
    );
    match builder.options(options).sign(&keys.signing) {
        Ok(ri) => ri.into_inner(),
        Err(e) => panic!("edited RouterInfo does not sign: {e}"),
    }
}

/// A DatabaseStore carrying `ri` (gzip form) under its hash.
pub fn store_router_info(ri: &RouterInfo, reply: Option<StoreReply>) -> DatabaseStore {
    DatabaseStore {
        key: ri.hash(),
        kind: StoreKind::RouterInfo,
        type_reserved_bits: 0,
        reply,
        data: ri.to_gzip().unwrap_or_default(),
    }
}

/// A DatabaseStore of a LeaseSet of `kind` with raw `bytes` under `key`.
pub fn store_lease_set(
    key: Hash,
    kind: StoreKind,
    bytes: Vec<u8>,
    reply: Option<StoreReply>,
) -> DatabaseStore {
    DatabaseStore {
        key,
        kind,
        type_reserved_bits: 0,
        reply,
        data: bytes,
    }
}

/// A destination with an X25519 encryption key field and an Ed25519 signing key.
pub fn destination(signing: &SigningPrivateKey) -> KeysAndCert {
    match KeysAndCert::from_keys(
        CryptoType::X25519,
        &[0x33; 32],
        SigType::EdDsaSha512Ed25519,
        &signing.public_bytes(),
        [0x44; 32],
    ) {
        Ok(d) => d,
        Err(e) => panic!("test destination does not build: {e}"),
    }
}

fn sign_typed(key: &SigningPrivateKey, store_type: u8, unsigned: Vec<u8>) -> Vec<u8> {
    let mut m = Vec::with_capacity(unsigned.len() + 1);
    m.push(store_type);
    m.extend_from_slice(&unsigned);
    let sig = key.sign(&m);
    let mut out = unsigned;
    out.extend_from_slice(&sig);
    out
}

/// A LeaseSet2 (type 3) of the destination of `signing`: published at `published_s`,
/// expiring `expires_in_s` later, one X25519 key, two leases ending at the expiry, `flags` in
/// the header (e.g. the unpublished bit). Returns (store key, bytes).
pub fn lease_set2(
    signing: &SigningPrivateKey,
    published_s: u32,
    expires_in_s: u16,
    flags: u16,
) -> (Hash, Vec<u8>) {
    let dest = destination(signing);
    let key = dest.hash();
    let header = LeaseSet2Header::new(dest, published_s, expires_in_s, flags, None);
    let end = published_s.saturating_add(u32::from(expires_in_s));
    let leases = [
        Lease2 {
            gateway: [0x11; 32],
            tunnel_id: 1001,
            end_date_secs: end,
        },
        Lease2 {
            gateway: [0x22; 32],
            tunnel_id: 1002,
            end_date_secs: end,
        },
    ];
    let keys = [EncryptionKey {
        crypto_type: CryptoType::X25519,
        key: vec![0x55; 32],
    }];
    let unsigned = LeaseSet2::encode_unsigned(&header, &Mapping::new(), &keys, &leases);
    (key, sign_typed(signing, LeaseSet2::STORE_TYPE, unsigned))
}

/// An EncryptedLeaseSet (type 5) whose "blinded" key is `blinded`'s Ed25519 public key (the
/// structure and signature are as on the network; real blinded keys are RedDSA, which only
/// changes the type code). Returns (store key = H(sig type || blinded key), bytes).
pub fn encrypted_lease_set(
    blinded: &SigningPrivateKey,
    published_s: u32,
    expires_in_s: u16,
) -> (Hash, Vec<u8>) {
    let unsigned = EncryptedLeaseSet::encode_unsigned(
        SigType::EdDsaSha512Ed25519,
        &blinded.public_bytes(),
        published_s,
        expires_in_s,
        0,
        None,
        &[0xab; 120],
    );
    let bytes = sign_typed(blinded, EncryptedLeaseSet::STORE_TYPE, unsigned);
    let key = match EncryptedLeaseSet::parse(&bytes) {
        Ok(u) => u.dangerous_inner().store_key(),
        Err(e) => panic!("test encrypted leaseset does not parse: {e}"),
    };
    (key, bytes)
}

/// A MetaLeaseSet (type 7) pointing at one LeaseSet2. Returns (store key, bytes).
pub fn meta_lease_set(
    signing: &SigningPrivateKey,
    published_s: u32,
    expires_in_s: u16,
) -> (Hash, Vec<u8>) {
    let dest = destination(signing);
    let key = dest.hash();
    let header = LeaseSet2Header::new(dest, published_s, expires_in_s, 0, None);
    let leases = [MetaLease {
        gateway: [0x77; 32],
        flags: 3,
        cost: 10,
        end_date_secs: published_s.saturating_add(u32::from(expires_in_s)),
    }];
    let unsigned = MetaLeaseSet::encode_unsigned(&header, &Mapping::new(), &leases, &[]);
    (key, sign_typed(signing, MetaLeaseSet::STORE_TYPE, unsigned))
}

/// An su3 file of type zip carrying `zip`, claiming `signer`, signed RSA-4096 with `key` the way
/// reseed servers sign (Java's NONEwithRSA: PKCS#1 v1.5 padding around the bare SHA-512 digest
/// of everything before the signature).
pub fn rsa_su3(key: &rsa::RsaPrivateKey, signer: &str, content_type: u8, zip: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha512};
    let mut f = crate::wire::su3::unsigned_su3(
        SigType::RsaSha5124096,
        b"1700000000",
        signer,
        crate::wire::su3::FILE_TYPE_ZIP,
        content_type,
        zip,
    );
    let sig = key
        .sign(rsa::Pkcs1v15Sign::new_unprefixed(), &Sha512::digest(&f))
        .expect("RSA-4096 signs a SHA-512 digest");
    f.extend_from_slice(&sig);
    f
}

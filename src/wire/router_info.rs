//! RouterInfo (common-structures "RouterInfo"): identity, published Date, addresses, the unused
//! peer list, options Mapping and a signature by the identity's signing key over everything
//! before it.
//!
//! Also the DatabaseStore form (i2np: gzip-compressed RouterInfo), with a decompression limit
//! so a small message cannot expand into a large allocation.

use super::date::Date;
use super::keys_and_cert::KeysAndCert;
use super::mapping::Mapping;
use super::router_address::RouterAddress;
use super::verify::{ParseVerifyError, VerifyError, check};
use super::{Reader, Unverified, Verified, WireError, WireErrorKind, Writer};
use crate::crypto::SigningPrivateKey;
use std::io::{Read, Write};
use thiserror::Error;

/// Largest RouterInfo accepted, serialized and after decompression. i2pd 2.45 uses the same
/// bound (`MAX_RI_BUFFER_SIZE = 3072` in libi2pd/RouterInfo.h: "if RouterInfo exceeds 3K we
/// consider it as malformed") and drops larger ones, so a larger RouterInfo could not spread
/// through i2pd floodfills anyway. Real ones are ~0.5-1.5 KiB (Java routers with several SSU2
/// introducers are at the top of that range).
pub const MAX_ROUTER_INFO_SIZE: usize = 3072;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterInfo {
    identity: KeysAndCert,
    published: Date,
    addresses: Vec<RouterAddress>,
    /// The unused peer hash list. The spec says peer_size is always 0; Java and i2pd still read
    /// and skip a non-zero list, so it is kept (not interpreted) to preserve the signed bytes.
    peers: Vec<[u8; 32]>,
    options: Mapping,
    signature: Vec<u8>,
    /// The exact bytes parsed or signed; `signed_len` of them are covered by the signature.
    raw: Vec<u8>,
    signed_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouterInfoBuildError {
    #[error("identity signing key does not match the private key")]
    KeyMismatch,
    #[error("more than 255 addresses")]
    TooManyAddresses,
    #[error("options mapping is not sorted by key; peers would fail to verify a re-encoding")]
    UnsortedOptions,
    #[error("RouterInfo is {0} bytes, more than {MAX_ROUTER_INFO_SIZE}")]
    TooLarge(usize),
    #[error("freshly signed RouterInfo does not verify: {0}")]
    SelfCheck(#[from] VerifyError),
    #[error("freshly built RouterInfo does not parse: {0}")]
    Encoding(#[from] WireError),
}

impl RouterInfo {
    /// Parse a RouterInfo that fills `bytes` exactly (a router.info file or a decompressed
    /// DatabaseStore payload). The result must be verified before use.
    pub fn parse(bytes: &[u8]) -> Result<Unverified<RouterInfo>, WireError> {
        if bytes.len() > MAX_ROUTER_INFO_SIZE {
            return Err(WireError::new(
                "router info",
                0,
                WireErrorKind::TooLong {
                    len: bytes.len(),
                    max: MAX_ROUTER_INFO_SIZE,
                },
            ));
        }
        let mut r = Reader::new(bytes);
        let identity = KeysAndCert::read(&mut r)?;
        let published = Date::read(&mut r, "router info published")?;
        let n_addr = r.u8("router info address count")?;
        let mut addresses = Vec::with_capacity(usize::from(n_addr));
        for _ in 0..n_addr {
            addresses.push(RouterAddress::read(&mut r)?);
        }
        let n_peers = r.u8("router info peer size")?;
        let mut peers = Vec::with_capacity(usize::from(n_peers));
        for _ in 0..n_peers {
            peers.push(r.array::<32>("router info peer hash")?);
        }
        let options = Mapping::read(&mut r)?;
        let signed_len = r.position();
        let signature = r
            .bytes(identity.sig_type().signature_len(), "router info signature")?
            .to_vec();
        r.finish("router info")?;
        Ok(Unverified::new(RouterInfo {
            identity,
            published,
            addresses,
            peers,
            options,
            signature,
            raw: bytes.to_vec(),
            signed_len,
        }))
    }

    /// Parse and verify in one step, e.g. for a router.info file read from disk.
    pub fn parse_verified(bytes: &[u8]) -> Result<Verified<RouterInfo>, ParseVerifyError> {
        Ok(Self::parse(bytes)?.verify()?)
    }

    /// Decompress the gzip form carried in a DatabaseStore message and parse it. Output beyond
    /// [`MAX_ROUTER_INFO_SIZE`] is refused without being buffered (no gzip bombs); bytes after
    /// the gzip member are refused too. Error offsets inside the RouterInfo are offsets into the
    /// decompressed data.
    pub fn from_gzip(data: &[u8]) -> Result<Unverified<RouterInfo>, WireError> {
        Self::parse(&gunzip_bounded(data, MAX_ROUTER_INFO_SIZE)?)
    }

    /// The gzip form for a DatabaseStore message.
    pub fn to_gzip(&self) -> std::io::Result<Vec<u8>> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&self.to_bytes())?;
        enc.finish()
    }

    /// Serialize from the fields. For a parsed RouterInfo this equals the input bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.unsigned_bytes();
        out.extend_from_slice(&self.signature);
        out
    }

    fn unsigned_bytes(&self) -> Vec<u8> {
        Self::encode_unsigned(
            &self.identity,
            self.published,
            &self.addresses,
            &self.peers,
            &self.options,
        )
    }

    fn encode_unsigned(
        identity: &KeysAndCert,
        published: Date,
        addresses: &[RouterAddress],
        peers: &[[u8; 32]],
        options: &Mapping,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        identity.write(&mut out);
        published.write(&mut out);
        // Both counts are bounded by 255 on every construction path.
        out.put_u8(u8::try_from(addresses.len()).unwrap_or(u8::MAX));
        for a in addresses.iter().take(255) {
            a.write(&mut out);
        }
        out.put_u8(u8::try_from(peers.len()).unwrap_or(u8::MAX));
        for p in peers.iter().take(255) {
            out.put_bytes(p);
        }
        options.write(&mut out);
        out
    }

    /// The bytes exactly as parsed (or as signed by us).
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
    /// The part of [`Self::as_bytes`] the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.raw[..self.signed_len]
    }
    pub fn identity(&self) -> &KeysAndCert {
        &self.identity
    }
    /// The router hash: SHA-256 of the RouterIdentity, the netDb key.
    pub fn hash(&self) -> [u8; 32] {
        self.identity.hash()
    }
    /// The netDb store key; for a RouterInfo it is the router hash.
    pub fn store_key(&self) -> [u8; 32] {
        self.identity.hash()
    }
    pub fn published(&self) -> Date {
        self.published
    }
    pub fn addresses(&self) -> &[RouterAddress] {
        &self.addresses
    }
    pub fn peers(&self) -> &[[u8; 32]] {
        &self.peers
    }
    pub fn options(&self) -> &Mapping {
        &self.options
    }
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// The "caps" option (e.g. "XfR"); empty when absent.
    pub fn caps(&self) -> &str {
        self.options.get("caps").unwrap_or("")
    }
    pub fn has_cap(&self, c: char) -> bool {
        self.caps().contains(c)
    }
    /// Floodfill routers publish the 'f' capability.
    pub fn is_floodfill(&self) -> bool {
        self.has_cap('f')
    }
    /// The "netId" option; `None` if absent or not a number. The main network is 2.
    pub fn net_id(&self) -> Option<u32> {
        self.options.get("netId")?.parse().ok()
    }
    /// The "router.version" option, e.g. "0.9.57".
    pub fn version(&self) -> Option<&str> {
        self.options.get("router.version")
    }
}

impl Unverified<RouterInfo> {
    /// Check the signature over the signed bytes with the identity's signing key.
    pub fn verify(self) -> Result<Verified<RouterInfo>, VerifyError> {
        let ri = self.dangerous_inner();
        check(
            ri.identity.sig_type(),
            &ri.identity.signing_public_key(),
            ri.signed_bytes(),
            &ri.signature,
        )?;
        Ok(Verified::new_checked(self.dangerous_into_inner()))
    }
}

/// Builds and signs our own RouterInfo.
#[derive(Debug, Clone)]
pub struct RouterInfoBuilder {
    identity: KeysAndCert,
    published: Date,
    addresses: Vec<RouterAddress>,
    options: Mapping,
}

impl RouterInfoBuilder {
    pub fn new(identity: KeysAndCert, published: Date) -> Self {
        Self {
            identity,
            published,
            addresses: Vec::new(),
            options: Mapping::new(),
        }
    }
    pub fn address(mut self, a: RouterAddress) -> Self {
        self.addresses.push(a);
        self
    }
    /// Router options; build them with [`Mapping::from_pairs`], which sorts by key.
    pub fn options(mut self, options: Mapping) -> Self {
        self.options = options;
        self
    }

    /// Sign with `key`, which must belong to the identity. The result goes through the same
    /// parse + verify path as a RouterInfo from the network, so what we publish is known to be
    /// acceptable to ourselves byte for byte.
    pub fn sign(
        self,
        key: &SigningPrivateKey,
    ) -> Result<Verified<RouterInfo>, RouterInfoBuildError> {
        if self.identity.sig_type() != key.sig_type()
            || *self.identity.signing_public_key() != key.public_bytes()[..]
        {
            return Err(RouterInfoBuildError::KeyMismatch);
        }
        if self.addresses.len() > 255 {
            return Err(RouterInfoBuildError::TooManyAddresses);
        }
        if !self.options.is_sorted() || self.addresses.iter().any(|a| !a.options().is_sorted()) {
            return Err(RouterInfoBuildError::UnsortedOptions);
        }
        let mut bytes = RouterInfo::encode_unsigned(
            &self.identity,
            self.published,
            &self.addresses,
            &[],
            &self.options,
        );
        let sig = key.sign(&bytes);
        bytes.extend_from_slice(&sig);
        if bytes.len() > MAX_ROUTER_INFO_SIZE {
            return Err(RouterInfoBuildError::TooLarge(bytes.len()));
        }
        Ok(RouterInfo::parse(&bytes)?.verify()?)
    }
}

/// Inflate a single gzip member, refusing more than `max` bytes of output and any bytes after
/// the member.
pub(crate) fn gunzip_bounded(data: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    // bufread::GzDecoder over a slice consumes exactly the member, so what is left afterwards
    // is trailing data.
    let mut dec = flate2::bufread::GzDecoder::new(data);
    let mut out = Vec::new();
    // Read one byte past the limit to tell "exactly max" from "more than max".
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    (&mut dec)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| WireError::invalid("gzip data", 0, format!("cannot inflate: {e}")))?;
    if out.len() > max {
        return Err(WireError::new(
            "gzip data",
            0,
            WireErrorKind::TooLong {
                len: out.len(),
                max,
            },
        ));
    }
    let rest = dec.into_inner();
    if !rest.is_empty() {
        return Err(WireError::new(
            "gzip data",
            data.len() - rest.len(),
            WireErrorKind::Trailing(rest.len()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::base64;
    use proptest::prelude::*;

    fn our_ri(published: u64) -> (SigningPrivateKey, Verified<RouterInfo>) {
        let key = SigningPrivateKey::from_bytes(&[42u8; 32]);
        let identity =
            KeysAndCert::router_identity_x25519_ed25519([5u8; 32], key.public_bytes(), [0x5a; 32]);
        let s = base64::encode(&[1u8; 32]);
        let i = base64::encode(&[2u8; 16]);
        let ntcp2 = RouterAddress::new(
            3,
            Date::UNDEFINED,
            "NTCP2",
            Mapping::from_pairs([
                ("host", "198.18.0.7"),
                ("i", i.as_str()),
                ("port", "12345"),
                ("s", s.as_str()),
                ("v", "2"),
            ])
            .unwrap(),
        )
        .unwrap();
        let opts = Mapping::from_pairs([
            ("caps", "XfR"),
            ("netId", "99"),
            ("router.version", "0.9.67"),
        ])
        .unwrap();
        let ri = RouterInfoBuilder::new(identity, Date::from_millis(published))
            .address(ntcp2)
            .options(opts)
            .sign(&key)
            .unwrap();
        (key, ri)
    }

    #[test]
    fn built_and_signed_verifies_and_round_trips() {
        let (_, ri) = our_ri(1_700_000_000_000);
        assert!(ri.is_floodfill());
        assert_eq!(ri.net_id(), Some(99));
        assert_eq!(ri.version(), Some("0.9.67"));
        assert_eq!(ri.caps(), "XfR");
        assert_eq!(ri.addresses()[0].port(), Some(12345));
        let bytes = ri.to_bytes();
        assert_eq!(bytes, ri.as_bytes());
        let parsed = RouterInfo::parse(&bytes).unwrap();
        assert_eq!(parsed.dangerous_inner().to_bytes(), bytes);
        assert_eq!(parsed.dangerous_inner().hash(), ri.identity().hash());
        parsed.verify().unwrap();
    }

    #[test]
    fn flipped_byte_fails_verification() {
        let (_, ri) = our_ri(1_700_000_000_000);
        let bytes = ri.to_bytes();
        // Flip a byte in the published date, one inside an address option value, and one in the
        // signature itself: each must break verification (not parsing).
        for pos in [392, 450, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[pos] ^= 0x01;
            let u = RouterInfo::parse(&b).unwrap();
            let e = u.verify().unwrap_err();
            assert!(matches!(e, VerifyError::Signature(_)), "{pos}: {e}");
        }
    }

    #[test]
    fn wrong_key_is_rejected_by_builder() {
        let (_, ri) = our_ri(1);
        let other = SigningPrivateKey::from_bytes(&[7u8; 32]);
        let e = RouterInfoBuilder::new(ri.identity().clone(), Date::from_millis(1))
            .sign(&other)
            .unwrap_err();
        assert_eq!(e, RouterInfoBuildError::KeyMismatch);
    }

    #[test]
    fn gzip_round_trip() {
        let (_, ri) = our_ri(1_700_000_000_000);
        let gz = ri.to_gzip().unwrap();
        // The repeated padding block makes the identity compress (proposal 161).
        assert!(gz.len() < ri.to_bytes().len() - 200, "{} bytes", gz.len());
        let back = RouterInfo::from_gzip(&gz).unwrap().verify().unwrap();
        assert_eq!(back.to_bytes(), ri.to_bytes());
    }

    #[test]
    fn gzip_bomb_and_trailing_rejected() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 10 * 1024 * 1024]).unwrap();
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 20_000);
        let e = RouterInfo::from_gzip(&bomb).unwrap_err();
        assert_eq!(e.what, "gzip data");
        assert_eq!(
            e.kind,
            WireErrorKind::TooLong {
                len: MAX_ROUTER_INFO_SIZE + 1,
                max: MAX_ROUTER_INFO_SIZE
            }
        );

        let (_, ri) = our_ri(1);
        let mut gz = ri.to_gzip().unwrap();
        let n = gz.len();
        gz.extend([1, 2, 3]);
        let e = RouterInfo::from_gzip(&gz).unwrap_err();
        assert_eq!(
            (e.what, e.offset, e.kind),
            ("gzip data", n, WireErrorKind::Trailing(3))
        );

        let e = RouterInfo::from_gzip(b"not gzip at all").unwrap_err();
        assert_eq!(e.what, "gzip data");
        assert!(matches!(e.kind, WireErrorKind::Invalid(_)));
    }

    #[test]
    fn malformed_router_infos() {
        let (_, ri) = our_ri(1);
        let bytes = ri.to_bytes();
        // Truncated inside the signature.
        let e = RouterInfo::parse(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!(e.what, "router info signature");
        assert_eq!(e.kind, WireErrorKind::Truncated { need: 64, have: 63 });
        // Truncated inside the identity.
        let e = RouterInfo::parse(&bytes[..200]).unwrap_err();
        assert_eq!((e.what, e.offset), ("keys and cert key area", 0));
        // Trailing bytes.
        let mut t = bytes.clone();
        t.push(0);
        let e = RouterInfo::parse(&t).unwrap_err();
        assert_eq!((e.what, e.offset), ("router info", bytes.len()));
        assert_eq!(e.kind, WireErrorKind::Trailing(1));
        // Address count larger than the addresses present: the second address runs into the
        // peer size / options / signature and fails somewhere after offset 400.
        let mut c = bytes.clone();
        c[399] = 2;
        let e = RouterInfo::parse(&c).unwrap_err();
        assert!(e.offset > 400, "{e}");
        // Options mapping size that runs past the end.
        let opts_len = ri.options().wire_len();
        let opts_off = bytes.len() - 64 - opts_len;
        let mut m = bytes.clone();
        m[opts_off] = 0xff;
        let e = RouterInfo::parse(&m).unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping content", opts_off + 2));
        // Too large.
        let e = RouterInfo::parse(&vec![0u8; MAX_ROUTER_INFO_SIZE + 1]).unwrap_err();
        assert_eq!(e.what, "router info");
        assert!(matches!(e.kind, WireErrorKind::TooLong { .. }));
    }

    #[test]
    fn nonzero_peer_list_is_kept_for_the_signature() {
        let (key, ri) = our_ri(1);
        let unsigned = ri.signed_bytes();
        let opts_len = ri.options().wire_len();
        let peer_off = unsigned.len() - opts_len - 1;
        assert_eq!(unsigned[peer_off], 0);
        let mut b = unsigned[..peer_off].to_vec();
        b.push(1);
        b.extend([0xAB; 32]);
        b.extend_from_slice(&unsigned[peer_off + 1..]);
        let sig = key.sign(&b);
        b.extend_from_slice(&sig);
        let parsed = RouterInfo::parse(&b).unwrap();
        assert_eq!(parsed.dangerous_inner().peers(), &[[0xAB; 32]]);
        assert_eq!(parsed.dangerous_inner().to_bytes(), b);
        parsed.verify().unwrap();
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = RouterInfo::parse(&bytes);
            let _ = RouterInfo::from_gzip(&bytes);
        }

        #[test]
        fn mutated_router_info_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let (_, ri) = our_ri(1);
            let mut b = ri.to_bytes();
            for (i, v) in edits {
                let at = i.index(b.len());
                b[at] = v;
            }
            b.truncate(cut.index(b.len() + 1));
            if let Ok(u) = RouterInfo::parse(&b) {
                prop_assert_eq!(u.dangerous_inner().to_bytes(), b);
                let _ = u.verify();
            }
        }
    }
}

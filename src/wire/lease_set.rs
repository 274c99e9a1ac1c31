//! LeaseSet (DatabaseStore type 1), LeaseSet2 (3), EncryptedLeaseSet outer layer (5) and
//! MetaLeaseSet (7), per common-structures and encryptedleaseset.
//!
//! Signatures: a LeaseSet (1) is signed by the destination over its bytes. The three newer types
//! are signed over the one-byte DatabaseStore type followed by their bytes, by the destination
//! (or, for type 5, the blinded key) unless an OfflineSignature block is present; then that block
//! is signed by the destination/blinded key over `expires || sigtype || transient key` and the
//! structure by the transient key.
//!
//! Store keys: SHA-256 of the Destination for types 1, 3 and 7; for type 5 the SHA-256 of the
//! 2-byte blinded signature type followed by the blinded public key (encryptedleaseset: "DHT
//! storage location is SHA-256(sig type || blinded public key)").
//!
//! Size: nothing here is compressed, so the parse is linear in the input; limiting the size of
//! a stored leaseset (i2pd uses 4096 bytes, 8192 with post-quantum keys) is netDb policy.

use super::date::Date;
use super::keys::{CryptoType, SigType};
use super::keys_and_cert::KeysAndCert;
use super::mapping::Mapping;
use super::verify::{VerifyError, check, with_store_type};
use super::{Reader, Unverified, Verified, WireError, Writer};
use sha2::{Digest, Sha256};

pub const STORE_TYPE_LEASESET: u8 = 1;
pub const STORE_TYPE_LEASESET2: u8 = 3;
pub const STORE_TYPE_ENCRYPTED_LEASESET2: u8 = 5;
pub const STORE_TYPE_META_LEASESET2: u8 = 7;

/// Most leases a LeaseSet or LeaseSet2 may hold (spec: `0 <= num <= 16`).
pub const MAX_LEASES: usize = 16;

/// Most encryption keys a LeaseSet2 may carry: Java I2P refuses more than 8 (`LeaseSet2`
/// `MAX_KEYS`); a destination publishes one per crypto type it offers, 1-3 in practice.
pub const MAX_LS2_KEYS: usize = 8;

/// LS2 header / encrypted LS flag bit 0: an OfflineSignature block follows.
pub const FLAG_OFFLINE_KEYS: u16 = 1;
/// Flag bit 1: unpublished; must not be flooded or served to queries.
pub const FLAG_UNPUBLISHED: u16 = 1 << 1;
/// LS2 header flag bit 2: will be blinded and encrypted when published.
pub const FLAG_BLINDED_WHEN_PUBLISHED: u16 = 1 << 2;

fn seconds(s: u32) -> Date {
    Date::from_millis(u64::from(s) * 1000)
}

fn read_count(
    r: &mut Reader<'_>,
    what: &'static str,
    min: usize,
    max: usize,
) -> Result<usize, WireError> {
    let off = r.offset();
    let n = usize::from(r.u8(what)?);
    if n < min || n > max {
        return Err(WireError::invalid(
            what,
            off,
            format!("{n} is outside {min}..={max}"),
        ));
    }
    Ok(n)
}

fn read_sig_type(r: &mut Reader<'_>, what: &'static str) -> Result<SigType, WireError> {
    let off = r.offset();
    let code = r.u16(what)?;
    SigType::from_code(code)
        .ok_or_else(|| WireError::unsupported(what, off, format!("unknown signature type {code}")))
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    // Counts are bounded (<= 255) by every construction path.
    out.put_u8(u8::try_from(n).unwrap_or(u8::MAX));
}

// ---------------------------------------------------------------------------------------------
// Leases

/// A Lease of a LeaseSet (type 1): 44 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub gateway: [u8; 32],
    pub tunnel_id: u32,
    pub end_date: Date,
}

impl Lease {
    pub const LEN: usize = 44;
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            gateway: r.array("lease tunnel gateway")?,
            tunnel_id: r.u32("lease tunnel id")?,
            end_date: Date::read(r, "lease end date")?,
        })
    }
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_bytes(&self.gateway);
        out.put_u32(self.tunnel_id);
        self.end_date.write(out);
    }
}

/// A Lease2 of a LeaseSet2: 40 bytes, end date in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease2 {
    pub gateway: [u8; 32],
    pub tunnel_id: u32,
    pub end_date_secs: u32,
}

impl Lease2 {
    pub const LEN: usize = 40;
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            gateway: r.array("lease2 tunnel gateway")?,
            tunnel_id: r.u32("lease2 tunnel id")?,
            end_date_secs: r.u32("lease2 end date")?,
        })
    }
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_bytes(&self.gateway);
        out.put_u32(self.tunnel_id);
        out.put_u32(self.end_date_secs);
    }
    pub fn end_date(&self) -> Date {
        seconds(self.end_date_secs)
    }
}

/// A MetaLease of a MetaLeaseSet: 40 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetaLease {
    /// Hash of a tunnel gateway or of another (meta) leaseset.
    pub gateway: [u8; 32],
    /// 24 bits; bits 3-0 are the entry type (1 LeaseSet, 3 LeaseSet2, 5 MetaLeaseSet).
    pub flags: u32,
    pub cost: u8,
    pub end_date_secs: u32,
}

impl MetaLease {
    pub const LEN: usize = 40;
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let gateway = r.array("meta lease gateway")?;
        let f: [u8; 3] = r.array("meta lease flags")?;
        Ok(Self {
            gateway,
            flags: u32::from_be_bytes([0, f[0], f[1], f[2]]),
            cost: r.u8("meta lease cost")?,
            end_date_secs: r.u32("meta lease end date")?,
        })
    }
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_bytes(&self.gateway);
        out.put_bytes(&self.flags.to_be_bytes()[1..]);
        out.put_u8(self.cost);
        out.put_u32(self.end_date_secs);
    }
    /// Entry type from flag bits 3-0.
    pub fn entry_type(&self) -> u8 {
        (self.flags & 0x0f) as u8
    }
}

// ---------------------------------------------------------------------------------------------
// OfflineSignature

/// A transient signing key authorized by the long-term key until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OfflineSignature {
    expires_secs: u32,
    transient_sig_type: SigType,
    transient_key: Vec<u8>,
    signature: Vec<u8>,
}

impl OfflineSignature {
    /// `signer` is the sig type of the long-term key (destination or blinded key); it fixes the
    /// length of the block's signature.
    pub fn read(r: &mut Reader<'_>, signer: SigType) -> Result<Self, WireError> {
        let expires_secs = r.u32("offline signature expires")?;
        let transient_sig_type = read_sig_type(r, "offline signature transient sig type")?;
        let transient_key = r
            .bytes(
                transient_sig_type.public_key_len(),
                "offline signature transient key",
            )?
            .to_vec();
        let signature = r
            .bytes(signer.signature_len(), "offline signature signature")?
            .to_vec();
        Ok(Self {
            expires_secs,
            transient_sig_type,
            transient_key,
            signature,
        })
    }

    /// Build a block from its parts (the signature is made by the long-term key over
    /// [`Self::signed_message_for`]).
    pub fn new(
        expires_secs: u32,
        transient_sig_type: SigType,
        transient_key: Vec<u8>,
        signature: Vec<u8>,
    ) -> Self {
        Self {
            expires_secs,
            transient_sig_type,
            transient_key,
            signature,
        }
    }

    /// The bytes the long-term key signs: expires, transient sig type, transient key.
    pub fn signed_message_for(expires_secs: u32, sig_type: SigType, key: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(6 + key.len());
        m.put_u32(expires_secs);
        m.put_u16(sig_type.code());
        m.put_bytes(key);
        m
    }

    pub fn signed_message(&self) -> Vec<u8> {
        Self::signed_message_for(
            self.expires_secs,
            self.transient_sig_type,
            &self.transient_key,
        )
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_bytes(&self.signed_message());
        out.put_bytes(&self.signature);
    }

    pub fn expires_secs(&self) -> u32 {
        self.expires_secs
    }
    pub fn expires(&self) -> Date {
        seconds(self.expires_secs)
    }
    pub fn transient_sig_type(&self) -> SigType {
        self.transient_sig_type
    }
    pub fn transient_key(&self) -> &[u8] {
        &self.transient_key
    }
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Check that the transient key is still authorized at `now` and that the long-term key
    /// (`signer_type`, `signer_key`) signed it.
    pub fn verify(
        &self,
        signer_type: SigType,
        signer_key: &[u8],
        now: Date,
    ) -> Result<(), VerifyError> {
        if u64::from(self.expires_secs) * 1000 < now.millis() {
            return Err(VerifyError::OfflineExpired {
                expires: self.expires_secs,
                now: now.millis() / 1000,
            });
        }
        check(
            signer_type,
            signer_key,
            &self.signed_message(),
            &self.signature,
        )
        .map_err(VerifyError::OfflineSignature)
    }
}

/// Verify a type 3/5/7 structure: the offline block (if any) with the long-term key, then the
/// structure's signature over `store_type || signed` with the transient or long-term key.
fn verify_ls2_like(
    store_type: u8,
    signer_type: SigType,
    signer_key: &[u8],
    offline: Option<&OfflineSignature>,
    signed: &[u8],
    signature: &[u8],
    now: Date,
) -> Result<(), VerifyError> {
    let msg = with_store_type(store_type, signed);
    match offline {
        Some(o) => {
            o.verify(signer_type, signer_key, now)?;
            check(o.transient_sig_type, &o.transient_key, &msg, signature)?;
        }
        None => check(signer_type, signer_key, &msg, signature)?,
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LeaseSet (type 1)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSet {
    destination: KeysAndCert,
    encryption_key: Vec<u8>,
    signing_key: Vec<u8>,
    leases: Vec<Lease>,
    signature: Vec<u8>,
    raw: Vec<u8>,
    signed_len: usize,
}

impl LeaseSet {
    pub const STORE_TYPE: u8 = STORE_TYPE_LEASESET;

    pub fn parse(bytes: &[u8]) -> Result<Unverified<LeaseSet>, WireError> {
        let mut r = Reader::new(bytes);
        let destination = KeysAndCert::read(&mut r)?;
        // Always a 256-byte ElGamal key in this (legacy) structure.
        let encryption_key = r.bytes(256, "leaseset encryption key")?.to_vec();
        // The unused revocation key has the destination's signing key type and length.
        let signing_key = r
            .bytes(
                destination.sig_type().public_key_len(),
                "leaseset signing key",
            )?
            .to_vec();
        let n = read_count(&mut r, "leaseset lease count", 0, MAX_LEASES)?;
        let mut leases = Vec::with_capacity(n);
        for _ in 0..n {
            leases.push(Lease::read(&mut r)?);
        }
        let signed_len = r.position();
        let signature = r
            .bytes(destination.sig_type().signature_len(), "leaseset signature")?
            .to_vec();
        r.finish("leaseset")?;
        Ok(Unverified::new(Self {
            destination,
            encryption_key,
            signing_key,
            leases,
            signature,
            raw: bytes.to_vec(),
            signed_len,
        }))
    }

    fn encode_unsigned(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.destination.write(&mut out);
        out.put_bytes(&self.encryption_key);
        out.put_bytes(&self.signing_key);
        put_count(&mut out, self.leases.len());
        for l in &self.leases {
            l.write(&mut out);
        }
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.encode_unsigned();
        out.put_bytes(&self.signature);
        out
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
    pub fn destination(&self) -> &KeysAndCert {
        &self.destination
    }
    pub fn encryption_key(&self) -> &[u8] {
        &self.encryption_key
    }
    pub fn signing_key(&self) -> &[u8] {
        &self.signing_key
    }
    pub fn leases(&self) -> &[Lease] {
        &self.leases
    }
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// SHA-256 of the destination.
    pub fn store_key(&self) -> [u8; 32] {
        self.destination.hash()
    }
    /// The earliest lease expiration, which versions a type-1 LeaseSet (it has no published
    /// field). `None` without leases.
    pub fn earliest_expiration(&self) -> Option<Date> {
        self.leases.iter().map(|l| l.end_date).min()
    }
    /// The latest lease expiration: when the whole LeaseSet is useless.
    pub fn latest_expiration(&self) -> Option<Date> {
        self.leases.iter().map(|l| l.end_date).max()
    }
}

impl Unverified<LeaseSet> {
    /// Check the destination's signature over the bytes before the signature.
    pub fn verify(self) -> Result<Verified<LeaseSet>, VerifyError> {
        let ls = self.dangerous_inner();
        check(
            ls.destination.sig_type(),
            &ls.destination.signing_public_key(),
            &ls.raw[..ls.signed_len],
            &ls.signature,
        )?;
        Ok(Verified::new_checked(self.dangerous_into_inner()))
    }
}

// ---------------------------------------------------------------------------------------------
// LeaseSet2Header

/// The common header of LeaseSet2 and MetaLeaseSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSet2Header {
    destination: KeysAndCert,
    published_secs: u32,
    expires_offset_secs: u16,
    flags: u16,
    offline: Option<OfflineSignature>,
}

impl LeaseSet2Header {
    pub fn new(
        destination: KeysAndCert,
        published_secs: u32,
        expires_offset_secs: u16,
        flags: u16,
        offline: Option<OfflineSignature>,
    ) -> Self {
        // Keep the flag bit and the block consistent so the encoding can be parsed back.
        let flags = match offline {
            Some(_) => flags | FLAG_OFFLINE_KEYS,
            None => flags & !FLAG_OFFLINE_KEYS,
        };
        Self {
            destination,
            published_secs,
            expires_offset_secs,
            flags,
            offline,
        }
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let destination = KeysAndCert::read(r)?;
        let published_secs = r.u32("ls2 header published")?;
        let expires_offset_secs = r.u16("ls2 header expires")?;
        let flags = r.u16("ls2 header flags")?;
        let offline = if flags & FLAG_OFFLINE_KEYS != 0 {
            Some(OfflineSignature::read(r, destination.sig_type())?)
        } else {
            None
        };
        Ok(Self {
            destination,
            published_secs,
            expires_offset_secs,
            flags,
            offline,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        self.destination.write(out);
        out.put_u32(self.published_secs);
        out.put_u16(self.expires_offset_secs);
        out.put_u16(self.flags);
        if let Some(o) = &self.offline {
            o.write(out);
        }
    }

    pub fn destination(&self) -> &KeysAndCert {
        &self.destination
    }
    pub fn published_secs(&self) -> u32 {
        self.published_secs
    }
    pub fn published(&self) -> Date {
        seconds(self.published_secs)
    }
    pub fn expires_offset_secs(&self) -> u16 {
        self.expires_offset_secs
    }
    /// Absolute expiration: published + offset.
    pub fn expires(&self) -> Date {
        Date::from_millis(
            (u64::from(self.published_secs) + u64::from(self.expires_offset_secs)) * 1000,
        )
    }
    pub fn flags(&self) -> u16 {
        self.flags
    }
    pub fn is_unpublished(&self) -> bool {
        self.flags & FLAG_UNPUBLISHED != 0
    }
    pub fn is_blinded_when_published(&self) -> bool {
        self.flags & FLAG_BLINDED_WHEN_PUBLISHED != 0
    }
    pub fn offline_signature(&self) -> Option<&OfflineSignature> {
        self.offline.as_ref()
    }
    /// The sig type of the key that signs the structure: transient if offline, else the
    /// destination's.
    pub fn signing_sig_type(&self) -> SigType {
        self.offline
            .as_ref()
            .map_or(self.destination.sig_type(), |o| o.transient_sig_type)
    }

    fn verify(
        &self,
        store_type: u8,
        signed: &[u8],
        sig: &[u8],
        now: Date,
    ) -> Result<(), VerifyError> {
        verify_ls2_like(
            store_type,
            self.destination.sig_type(),
            &self.destination.signing_public_key(),
            self.offline.as_ref(),
            signed,
            sig,
            now,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// LeaseSet2 (type 3)

/// An encryption key of a LeaseSet2, with its declared type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptionKey {
    pub crypto_type: CryptoType,
    pub key: Vec<u8>,
}

/// Key length a LeaseSet2 key of this type must have, where the spec defines one. The MLKEM
/// hybrids (5, 6, 7) carry a 32-byte X25519 key in leasesets. NONE (255) is defined for
/// Destinations only, so in a leaseset it is as opaque as any other unknown code.
fn ls2_key_len(t: CryptoType) -> Option<usize> {
    match t {
        CryptoType::Other(5..=7) => Some(32),
        CryptoType::None => None,
        other => other.public_key_len(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSet2 {
    header: LeaseSet2Header,
    options: Mapping,
    keys: Vec<EncryptionKey>,
    leases: Vec<Lease2>,
    signature: Vec<u8>,
    raw: Vec<u8>,
    signed_len: usize,
}

impl LeaseSet2 {
    pub const STORE_TYPE: u8 = STORE_TYPE_LEASESET2;

    pub fn parse(bytes: &[u8]) -> Result<Unverified<LeaseSet2>, WireError> {
        let mut r = Reader::new(bytes);
        let header = LeaseSet2Header::read(&mut r)?;
        let options = Mapping::read(&mut r)?;
        let numk = read_count(&mut r, "leaseset2 key count", 1, MAX_LS2_KEYS)?;
        let mut keys = Vec::with_capacity(numk);
        for _ in 0..numk {
            let crypto_type = CryptoType::from_code(r.u16("leaseset2 key type")?);
            let len_off = r.offset();
            let len = usize::from(r.u16("leaseset2 key length")?);
            if let Some(expected) = ls2_key_len(crypto_type)
                && len != expected
            {
                return Err(WireError::invalid(
                    "leaseset2 key length",
                    len_off,
                    format!("{len} for {crypto_type:?}, expected {expected}"),
                ));
            }
            let key = r.bytes(len, "leaseset2 key")?.to_vec();
            keys.push(EncryptionKey { crypto_type, key });
        }
        let n = read_count(&mut r, "leaseset2 lease count", 0, MAX_LEASES)?;
        let mut leases = Vec::with_capacity(n);
        for _ in 0..n {
            leases.push(Lease2::read(&mut r)?);
        }
        let signed_len = r.position();
        let signature = r
            .bytes(
                header.signing_sig_type().signature_len(),
                "leaseset2 signature",
            )?
            .to_vec();
        r.finish("leaseset2")?;
        Ok(Unverified::new(Self {
            header,
            options,
            keys,
            leases,
            signature,
            raw: bytes.to_vec(),
            signed_len,
        }))
    }

    /// Encode everything the signature covers (without the store-type prefix).
    pub fn encode_unsigned(
        header: &LeaseSet2Header,
        options: &Mapping,
        keys: &[EncryptionKey],
        leases: &[Lease2],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        header.write(&mut out);
        options.write(&mut out);
        put_count(&mut out, keys.len());
        for k in keys {
            out.put_u16(k.crypto_type.code());
            out.put_u16(u16::try_from(k.key.len()).unwrap_or(u16::MAX));
            out.put_bytes(&k.key);
        }
        put_count(&mut out, leases.len());
        for l in leases {
            l.write(&mut out);
        }
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Self::encode_unsigned(&self.header, &self.options, &self.keys, &self.leases);
        out.put_bytes(&self.signature);
        out
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
    pub fn header(&self) -> &LeaseSet2Header {
        &self.header
    }
    pub fn destination(&self) -> &KeysAndCert {
        &self.header.destination
    }
    pub fn options(&self) -> &Mapping {
        &self.options
    }
    pub fn encryption_keys(&self) -> &[EncryptionKey] {
        &self.keys
    }
    pub fn leases(&self) -> &[Lease2] {
        &self.leases
    }
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// SHA-256 of the destination.
    pub fn store_key(&self) -> [u8; 32] {
        self.header.destination.hash()
    }
}

impl Unverified<LeaseSet2> {
    /// Verify the offline block (if any, including its expiry against `now`) and the signature
    /// over `3 || bytes`.
    pub fn verify(self, now: Date) -> Result<Verified<LeaseSet2>, VerifyError> {
        let ls = self.dangerous_inner();
        ls.header.verify(
            LeaseSet2::STORE_TYPE,
            &ls.raw[..ls.signed_len],
            &ls.signature,
            now,
        )?;
        Ok(Verified::new_checked(self.dangerous_into_inner()))
    }
}

// ---------------------------------------------------------------------------------------------
// MetaLeaseSet (type 7)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaLeaseSet {
    header: LeaseSet2Header,
    options: Mapping,
    leases: Vec<MetaLease>,
    revocations: Vec<[u8; 32]>,
    signature: Vec<u8>,
    raw: Vec<u8>,
    signed_len: usize,
}

impl MetaLeaseSet {
    pub const STORE_TYPE: u8 = STORE_TYPE_META_LEASESET2;

    pub fn parse(bytes: &[u8]) -> Result<Unverified<MetaLeaseSet>, WireError> {
        let mut r = Reader::new(bytes);
        let header = LeaseSet2Header::read(&mut r)?;
        let options = Mapping::read(&mut r)?;
        let n = read_count(&mut r, "meta leaseset lease count", 1, 255)?;
        let mut leases = Vec::with_capacity(n);
        for _ in 0..n {
            leases.push(MetaLease::read(&mut r)?);
        }
        let numr = read_count(&mut r, "meta leaseset revocation count", 0, 255)?;
        let mut revocations = Vec::with_capacity(numr);
        for _ in 0..numr {
            revocations.push(r.array::<32>("meta leaseset revocation")?);
        }
        let signed_len = r.position();
        let signature = r
            .bytes(
                header.signing_sig_type().signature_len(),
                "meta leaseset signature",
            )?
            .to_vec();
        r.finish("meta leaseset")?;
        Ok(Unverified::new(Self {
            header,
            options,
            leases,
            revocations,
            signature,
            raw: bytes.to_vec(),
            signed_len,
        }))
    }

    /// Encode everything the signature covers (without the store-type prefix).
    pub fn encode_unsigned(
        header: &LeaseSet2Header,
        options: &Mapping,
        leases: &[MetaLease],
        revocations: &[[u8; 32]],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        header.write(&mut out);
        options.write(&mut out);
        put_count(&mut out, leases.len());
        for l in leases {
            l.write(&mut out);
        }
        put_count(&mut out, revocations.len());
        for h in revocations {
            out.put_bytes(h);
        }
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Self::encode_unsigned(&self.header, &self.options, &self.leases, &self.revocations);
        out.put_bytes(&self.signature);
        out
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
    pub fn header(&self) -> &LeaseSet2Header {
        &self.header
    }
    pub fn destination(&self) -> &KeysAndCert {
        &self.header.destination
    }
    pub fn options(&self) -> &Mapping {
        &self.options
    }
    pub fn leases(&self) -> &[MetaLease] {
        &self.leases
    }
    pub fn revocations(&self) -> &[[u8; 32]] {
        &self.revocations
    }
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// SHA-256 of the destination.
    pub fn store_key(&self) -> [u8; 32] {
        self.header.destination.hash()
    }
}

impl Unverified<MetaLeaseSet> {
    /// Verify the offline block (if any) and the signature over `7 || bytes`.
    pub fn verify(self, now: Date) -> Result<Verified<MetaLeaseSet>, VerifyError> {
        let ls = self.dangerous_inner();
        ls.header.verify(
            MetaLeaseSet::STORE_TYPE,
            &ls.raw[..ls.signed_len],
            &ls.signature,
            now,
        )?;
        Ok(Verified::new_checked(self.dangerous_into_inner()))
    }
}

// ---------------------------------------------------------------------------------------------
// EncryptedLeaseSet (type 5), outer layer

/// The cleartext outer layer of an encrypted LS2. The ciphertext is opaque to a floodfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedLeaseSet {
    blinded_sig_type: SigType,
    blinded_key: Vec<u8>,
    published_secs: u32,
    expires_offset_secs: u16,
    flags: u16,
    offline: Option<OfflineSignature>,
    encrypted: Vec<u8>,
    signature: Vec<u8>,
    raw: Vec<u8>,
    signed_len: usize,
}

impl EncryptedLeaseSet {
    pub const STORE_TYPE: u8 = STORE_TYPE_ENCRYPTED_LEASESET2;

    pub fn parse(bytes: &[u8]) -> Result<Unverified<EncryptedLeaseSet>, WireError> {
        let mut r = Reader::new(bytes);
        let blinded_sig_type = read_sig_type(&mut r, "encrypted leaseset blinded sig type")?;
        let blinded_key = r
            .bytes(
                blinded_sig_type.public_key_len(),
                "encrypted leaseset blinded key",
            )?
            .to_vec();
        let published_secs = r.u32("encrypted leaseset published")?;
        let expires_offset_secs = r.u16("encrypted leaseset expires")?;
        let flags = r.u16("encrypted leaseset flags")?;
        let offline = if flags & FLAG_OFFLINE_KEYS != 0 {
            Some(OfflineSignature::read(&mut r, blinded_sig_type)?)
        } else {
            None
        };
        let len_off = r.offset();
        let len = usize::from(r.u16("encrypted leaseset ciphertext length")?);
        if len == 0 {
            return Err(WireError::invalid(
                "encrypted leaseset ciphertext length",
                len_off,
                "must be at least 1",
            ));
        }
        let encrypted = r.bytes(len, "encrypted leaseset ciphertext")?.to_vec();
        let signed_len = r.position();
        let sig_type = offline
            .as_ref()
            .map_or(blinded_sig_type, |o| o.transient_sig_type);
        let signature = r
            .bytes(sig_type.signature_len(), "encrypted leaseset signature")?
            .to_vec();
        r.finish("encrypted leaseset")?;
        Ok(Unverified::new(Self {
            blinded_sig_type,
            blinded_key,
            published_secs,
            expires_offset_secs,
            flags,
            offline,
            encrypted,
            signature,
            raw: bytes.to_vec(),
            signed_len,
        }))
    }

    /// Encode everything the signature covers (without the store-type prefix). The offline
    /// flag bit is set from `offline`.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_unsigned(
        blinded_sig_type: SigType,
        blinded_key: &[u8],
        published_secs: u32,
        expires_offset_secs: u16,
        flags: u16,
        offline: Option<&OfflineSignature>,
        encrypted: &[u8],
    ) -> Vec<u8> {
        let flags = match offline {
            Some(_) => flags | FLAG_OFFLINE_KEYS,
            None => flags & !FLAG_OFFLINE_KEYS,
        };
        let mut out = Vec::new();
        out.put_u16(blinded_sig_type.code());
        out.put_bytes(blinded_key);
        out.put_u32(published_secs);
        out.put_u16(expires_offset_secs);
        out.put_u16(flags);
        if let Some(o) = offline {
            o.write(&mut out);
        }
        out.put_u16(u16::try_from(encrypted.len()).unwrap_or(u16::MAX));
        out.put_bytes(encrypted);
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Self::encode_unsigned(
            self.blinded_sig_type,
            &self.blinded_key,
            self.published_secs,
            self.expires_offset_secs,
            self.flags,
            self.offline.as_ref(),
            &self.encrypted,
        );
        out.put_bytes(&self.signature);
        out
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
    pub fn blinded_sig_type(&self) -> SigType {
        self.blinded_sig_type
    }
    pub fn blinded_key(&self) -> &[u8] {
        &self.blinded_key
    }
    pub fn published_secs(&self) -> u32 {
        self.published_secs
    }
    pub fn published(&self) -> Date {
        seconds(self.published_secs)
    }
    pub fn expires_offset_secs(&self) -> u16 {
        self.expires_offset_secs
    }
    pub fn expires(&self) -> Date {
        Date::from_millis(
            (u64::from(self.published_secs) + u64::from(self.expires_offset_secs)) * 1000,
        )
    }
    pub fn flags(&self) -> u16 {
        self.flags
    }
    pub fn is_unpublished(&self) -> bool {
        self.flags & FLAG_UNPUBLISHED != 0
    }
    pub fn offline_signature(&self) -> Option<&OfflineSignature> {
        self.offline.as_ref()
    }
    pub fn ciphertext(&self) -> &[u8] {
        &self.encrypted
    }
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// SHA-256(blinded sig type as 2 bytes big-endian || blinded public key).
    pub fn store_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.blinded_sig_type.code().to_be_bytes());
        h.update(&self.blinded_key);
        h.finalize().into()
    }
}

impl Unverified<EncryptedLeaseSet> {
    /// Verify the offline block with the blinded key (if any, with its expiry against `now`)
    /// and the signature over `5 || bytes` with the transient or blinded key.
    pub fn verify(self, now: Date) -> Result<Verified<EncryptedLeaseSet>, VerifyError> {
        let ls = self.dangerous_inner();
        verify_ls2_like(
            EncryptedLeaseSet::STORE_TYPE,
            ls.blinded_sig_type,
            &ls.blinded_key,
            ls.offline.as_ref(),
            &ls.raw[..ls.signed_len],
            &ls.signature,
            now,
        )?;
        Ok(Verified::new_checked(self.dangerous_into_inner()))
    }
}

// ---------------------------------------------------------------------------------------------
// Any of the four, by DatabaseStore type

/// A leaseset of any DatabaseStore type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyLeaseSet {
    LeaseSet(LeaseSet),
    LeaseSet2(LeaseSet2),
    Encrypted(EncryptedLeaseSet),
    Meta(MetaLeaseSet),
}

impl AnyLeaseSet {
    /// Parse the payload of a DatabaseStore of type `store_type` (1, 3, 5 or 7).
    pub fn parse(store_type: u8, bytes: &[u8]) -> Result<Unverified<AnyLeaseSet>, WireError> {
        let any = match store_type {
            STORE_TYPE_LEASESET => Self::LeaseSet(LeaseSet::parse(bytes)?.dangerous_into_inner()),
            STORE_TYPE_LEASESET2 => {
                Self::LeaseSet2(LeaseSet2::parse(bytes)?.dangerous_into_inner())
            }
            STORE_TYPE_ENCRYPTED_LEASESET2 => {
                Self::Encrypted(EncryptedLeaseSet::parse(bytes)?.dangerous_into_inner())
            }
            STORE_TYPE_META_LEASESET2 => {
                Self::Meta(MetaLeaseSet::parse(bytes)?.dangerous_into_inner())
            }
            other => {
                return Err(WireError::unsupported(
                    "database store type",
                    0,
                    format!("{other} is not a leaseset type"),
                ));
            }
        };
        Ok(Unverified::new(any))
    }

    pub fn store_type(&self) -> u8 {
        match self {
            Self::LeaseSet(_) => STORE_TYPE_LEASESET,
            Self::LeaseSet2(_) => STORE_TYPE_LEASESET2,
            Self::Encrypted(_) => STORE_TYPE_ENCRYPTED_LEASESET2,
            Self::Meta(_) => STORE_TYPE_META_LEASESET2,
        }
    }
    pub fn store_key(&self) -> [u8; 32] {
        match self {
            Self::LeaseSet(l) => l.store_key(),
            Self::LeaseSet2(l) => l.store_key(),
            Self::Encrypted(l) => l.store_key(),
            Self::Meta(l) => l.store_key(),
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::LeaseSet(l) => l.as_bytes(),
            Self::LeaseSet2(l) => l.as_bytes(),
            Self::Encrypted(l) => l.as_bytes(),
            Self::Meta(l) => l.as_bytes(),
        }
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::LeaseSet(l) => l.to_bytes(),
            Self::LeaseSet2(l) => l.to_bytes(),
            Self::Encrypted(l) => l.to_bytes(),
            Self::Meta(l) => l.to_bytes(),
        }
    }
    /// When the entry stops being useful: the header expiry for types 3/5/7, the latest lease
    /// end for type 1 (`None` for a type-1 set without leases).
    pub fn expires(&self) -> Option<Date> {
        match self {
            Self::LeaseSet(l) => l.latest_expiration(),
            Self::LeaseSet2(l) => Some(l.header.expires()),
            Self::Encrypted(l) => Some(l.expires()),
            Self::Meta(l) => Some(l.header.expires()),
        }
    }
}

impl Unverified<AnyLeaseSet> {
    /// Verify according to the type (see the per-type `verify`).
    pub fn verify(self, now: Date) -> Result<Verified<AnyLeaseSet>, VerifyError> {
        let any = match self.dangerous_into_inner() {
            AnyLeaseSet::LeaseSet(l) => {
                AnyLeaseSet::LeaseSet(Unverified::new(l).verify()?.into_inner())
            }
            AnyLeaseSet::LeaseSet2(l) => {
                AnyLeaseSet::LeaseSet2(Unverified::new(l).verify(now)?.into_inner())
            }
            AnyLeaseSet::Encrypted(l) => {
                AnyLeaseSet::Encrypted(Unverified::new(l).verify(now)?.into_inner())
            }
            AnyLeaseSet::Meta(l) => AnyLeaseSet::Meta(Unverified::new(l).verify(now)?.into_inner()),
        };
        Ok(Verified::new_checked(any))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningPrivateKey;
    use crate::crypto::signature::MlDsaTestKey;
    use crate::wire::WireErrorKind;
    use ml_dsa::MlDsa44;
    use proptest::prelude::*;

    const NOW_S: u32 = 1_700_000_000;
    fn now() -> Date {
        seconds(NOW_S)
    }

    fn key(seed: u8) -> SigningPrivateKey {
        SigningPrivateKey::from_bytes(&[seed; 32])
    }

    /// A destination as clients make them: random-looking ElGamal field, Ed25519 signing key.
    fn destination(k: &SigningPrivateKey) -> KeysAndCert {
        KeysAndCert::from_keys(
            CryptoType::ElGamal2048,
            &[0x33; 256],
            SigType::EdDsaSha512Ed25519,
            &k.public_bytes(),
            [0x44; 32],
        )
        .unwrap()
    }

    fn sign_with_type(k: &SigningPrivateKey, store_type: u8, body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(&k.sign(&with_store_type(store_type, body)));
        out
    }

    fn offline_block(
        dest_key: &SigningPrivateKey,
        transient: &SigningPrivateKey,
        expires: u32,
    ) -> Vec<u8> {
        let mut b = OfflineSignature::signed_message_for(
            expires,
            SigType::EdDsaSha512Ed25519,
            &transient.public_bytes(),
        );
        let sig = dest_key.sign(&b);
        b.extend_from_slice(&sig);
        b
    }

    /// A LeaseSet2 body written field by field from the spec, independent of the encoder.
    fn ls2_body(dest_key: &SigningPrivateKey, offline: Option<&[u8]>) -> Vec<u8> {
        ls2_body_for(&destination(dest_key), offline)
    }

    fn ls2_body_for(dest: &KeysAndCert, offline: Option<&[u8]>) -> Vec<u8> {
        let mut b = dest.to_bytes();
        b.put_u32(NOW_S);
        b.put_u16(600);
        b.put_u16(if offline.is_some() { 1 } else { 0 });
        if let Some(o) = offline {
            b.put_bytes(o);
        }
        // options: one service record
        let opt = Mapping::from_pairs([("_smtp._tcp", "0 86400 25")]).unwrap();
        opt.write(&mut b);
        b.put_u8(2); // numk
        b.put_u16(4);
        b.put_u16(32);
        b.put_bytes(&[0x55; 32]);
        b.put_u16(0);
        b.put_u16(256);
        b.put_bytes(&[0x66; 256]);
        b.put_u8(2); // leases
        for i in 0..2u8 {
            b.put_bytes(&[i; 32]);
            b.put_u32(1000 + u32::from(i));
            b.put_u32(NOW_S + 600);
        }
        b
    }

    #[test]
    fn leaseset2_parses_verifies_and_round_trips() {
        let dk = key(1);
        let bytes = sign_with_type(&dk, 3, &ls2_body(&dk, None));
        let u = LeaseSet2::parse(&bytes).unwrap();
        let ls = u.dangerous_inner();
        assert_eq!(ls.to_bytes(), bytes);
        assert_eq!(ls.encryption_keys().len(), 2);
        assert_eq!(ls.encryption_keys()[0].crypto_type, CryptoType::X25519);
        assert_eq!(ls.leases()[1].tunnel_id, 1001);
        assert_eq!(ls.options().get("_smtp._tcp"), Some("0 86400 25"));
        assert_eq!(ls.header().expires(), seconds(NOW_S + 600));
        assert_eq!(ls.store_key(), destination(&dk).hash());
        assert_eq!(
            LeaseSet2::encode_unsigned(
                ls.header(),
                ls.options(),
                ls.encryption_keys(),
                ls.leases()
            ),
            bytes[..bytes.len() - 64]
        );
        u.verify(now()).unwrap();
    }

    #[test]
    fn leaseset2_signature_covers_store_type_and_content() {
        let dk = key(1);
        let body = ls2_body(&dk, None);
        // Signed without the type byte: must fail.
        let mut no_prefix = body.clone();
        no_prefix.extend_from_slice(&dk.sign(&body));
        let e = LeaseSet2::parse(&no_prefix)
            .unwrap()
            .verify(now())
            .unwrap_err();
        assert!(matches!(e, VerifyError::Signature(_)));
        // Signed with the wrong type byte: must fail.
        let wrong = sign_with_type(&dk, 7, &body);
        assert!(LeaseSet2::parse(&wrong).unwrap().verify(now()).is_err());
        // A flipped lease byte: must fail.
        let mut flipped = sign_with_type(&dk, 3, &body);
        let at = body.len() - 5;
        flipped[at] ^= 0x80;
        let e = LeaseSet2::parse(&flipped)
            .unwrap()
            .verify(now())
            .unwrap_err();
        assert!(matches!(e, VerifyError::Signature(_)));
    }

    #[test]
    fn leaseset2_offline_signature() {
        let dk = key(1);
        let tk = key(2);
        let block = offline_block(&dk, &tk, NOW_S + 3600);
        let bytes = sign_with_type(&tk, 3, &ls2_body(&dk, Some(&block)));
        let u = LeaseSet2::parse(&bytes).unwrap();
        let o = u.dangerous_inner().header().offline_signature().unwrap();
        assert_eq!(o.transient_key(), &tk.public_bytes());
        assert_eq!(o.expires_secs(), NOW_S + 3600);
        assert_eq!(u.dangerous_inner().to_bytes(), bytes);
        u.clone().verify(now()).unwrap();

        // After the transient key's authorization expired.
        let e = u.verify(seconds(NOW_S + 3601)).unwrap_err();
        assert_eq!(
            e,
            VerifyError::OfflineExpired {
                expires: NOW_S + 3600,
                now: u64::from(NOW_S) + 3601
            }
        );
        // Offline block signed by someone else.
        let forged = offline_block(&key(9), &tk, NOW_S + 3600);
        let bytes = sign_with_type(&tk, 3, &ls2_body(&dk, Some(&forged)));
        let e = LeaseSet2::parse(&bytes).unwrap().verify(now()).unwrap_err();
        assert!(matches!(e, VerifyError::OfflineSignature(_)), "{e}");
        // LS signed by the destination key although the transient key must sign.
        let bytes = sign_with_type(&dk, 3, &ls2_body(&dk, Some(&block)));
        let e = LeaseSet2::parse(&bytes).unwrap().verify(now()).unwrap_err();
        assert!(matches!(e, VerifyError::Signature(_)), "{e}");
    }

    /// A destination of proposal 169: crypto type NONE, ML-DSA-44 signing key.
    fn ml_dsa44_destination(k: &MlDsaTestKey<MlDsa44>) -> KeysAndCert {
        KeysAndCert::from_keys(
            CryptoType::None,
            &[],
            SigType::MlDsa44,
            &k.public_bytes(),
            [0; 32],
        )
        .unwrap()
    }

    #[test]
    fn leaseset2_with_ml_dsa44_destination() {
        let dk = MlDsaTestKey::<MlDsa44>::from_seed([0x21; 32]);
        let dest = ml_dsa44_destination(&dk);
        assert_eq!(dest.len(), 1319);
        let body = ls2_body_for(&dest, None);
        let mut bytes = body.clone();
        bytes.extend(dk.sign(&with_store_type(3, &body), [0x42; 32]));
        let u = LeaseSet2::parse(&bytes).unwrap();
        let ls = u.dangerous_inner();
        assert_eq!(ls.destination(), &dest);
        assert_eq!(ls.destination().sig_type(), SigType::MlDsa44);
        assert_eq!(ls.signature().len(), 2420);
        assert_eq!(ls.encryption_keys().len(), 2);
        assert_eq!(ls.to_bytes(), bytes);
        assert_eq!(ls.store_key(), dest.hash());
        u.verify(now()).unwrap();

        // One flipped bit anywhere (destination key, published date, a lease, the signature)
        // still parses and no longer verifies.
        for at in [10, 1319, body.len() - 5, body.len() + 100, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[at] ^= 0x01;
            let e = LeaseSet2::parse(&b).unwrap().verify(now()).unwrap_err();
            assert!(matches!(e, VerifyError::Signature(_)), "byte {at}: {e}");
        }
        // Signed without the store type byte.
        let mut no_prefix = body.clone();
        no_prefix.extend(dk.sign(&body, [0x42; 32]));
        assert!(LeaseSet2::parse(&no_prefix).unwrap().verify(now()).is_err());
        // The signature length follows the destination's type.
        let e = LeaseSet2::parse(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!(e.what, "leaseset2 signature");
        assert_eq!(
            e.kind,
            WireErrorKind::Truncated {
                need: 2420,
                have: 2419
            }
        );
    }

    /// An ML-DSA destination that signs a transient Ed25519 key offline: the block's signature
    /// is ML-DSA-44, the leaseset's Ed25519.
    #[test]
    fn leaseset2_ml_dsa44_offline_signature() {
        let dk = MlDsaTestKey::<MlDsa44>::from_seed([0x22; 32]);
        let dest = ml_dsa44_destination(&dk);
        let tk = key(2);
        let offline = |signer: &MlDsaTestKey<MlDsa44>| {
            let mut b = OfflineSignature::signed_message_for(
                NOW_S + 3600,
                SigType::EdDsaSha512Ed25519,
                &tk.public_bytes(),
            );
            let sig = signer.sign(&b, [7; 32]);
            b.extend(sig);
            b
        };
        let bytes = sign_with_type(&tk, 3, &ls2_body_for(&dest, Some(&offline(&dk))));
        let u = LeaseSet2::parse(&bytes).unwrap();
        let o = u.dangerous_inner().header().offline_signature().unwrap();
        assert_eq!(o.signature().len(), 2420);
        assert_eq!(o.transient_key(), &tk.public_bytes());
        assert_eq!(u.dangerous_inner().to_bytes(), bytes);
        u.verify(now()).unwrap();

        let other = MlDsaTestKey::<MlDsa44>::from_seed([0x23; 32]);
        let bytes = sign_with_type(&tk, 3, &ls2_body_for(&dest, Some(&offline(&other))));
        let e = LeaseSet2::parse(&bytes).unwrap().verify(now()).unwrap_err();
        assert!(matches!(e, VerifyError::OfflineSignature(_)), "{e}");
    }

    #[test]
    fn leaseset2_malformed() {
        let dk = key(1);
        let body = ls2_body(&dk, None);
        let bytes = sign_with_type(&dk, 3, &body);
        let dest_len = destination(&dk).len();
        let opt_len = Mapping::from_pairs([("_smtp._tcp", "0 86400 25")])
            .unwrap()
            .wire_len();
        let numk_off = dest_len + 8 + opt_len;

        let mut b = bytes.clone();
        b[numk_off] = 0;
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("leaseset2 key count", numk_off));
        // More keys than Java I2P's limit of 8 is refused at the count, before any key is read.
        let mut b = bytes.clone();
        b[numk_off] = (MAX_LS2_KEYS + 1) as u8;
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("leaseset2 key count", numk_off));

        let mut b = bytes.clone();
        b[numk_off + 4] = 33; // X25519 key declared 33 bytes
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("leaseset2 key length", numk_off + 3));

        let lease_count_off = numk_off + 1 + 4 + 32 + 4 + 256;
        assert_eq!(bytes[lease_count_off], 2);
        let mut b = bytes.clone();
        b[lease_count_off] = 17;
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert_eq!(
            (e.what, e.offset),
            ("leaseset2 lease count", lease_count_off)
        );

        let mut b = bytes.clone();
        b[lease_count_off] = 3;
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert!(
            e.what.starts_with("lease2") || e.what == "leaseset2 signature",
            "{e}"
        );

        let e = LeaseSet2::parse(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!(e.what, "leaseset2 signature");
        assert_eq!(e.kind, WireErrorKind::Truncated { need: 64, have: 63 });

        let mut b = bytes.clone();
        b.push(0);
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert_eq!(
            (e.what, e.offset, e.kind),
            ("leaseset2", bytes.len(), WireErrorKind::Trailing(1))
        );

        // Options mapping whose size runs past the end.
        let mut b = bytes.clone();
        b[dest_len + 8] = 0xff;
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping content", dest_len + 10));

        // Offline flag with an unknown transient signature type.
        let mut b = destination(&dk).to_bytes();
        b.put_u32(NOW_S);
        b.put_u16(600);
        b.put_u16(1);
        b.put_u32(NOW_S + 10);
        b.put_u16(0x1234);
        b.put_bytes(&[0; 100]);
        let e = LeaseSet2::parse(&b).unwrap_err();
        assert_eq!(
            (e.what, e.offset),
            ("offline signature transient sig type", dest_len + 12)
        );
        assert!(matches!(e.kind, WireErrorKind::Unsupported(_)));
    }

    #[test]
    fn leaseset_type1() {
        let dk = key(3);
        let mut body = destination(&dk).to_bytes();
        body.put_bytes(&[0x77; 256]);
        body.put_bytes(&[0x88; 32]); // revocation key has the destination's type: Ed25519
        body.put_u8(2);
        for i in 0..2u8 {
            body.put_bytes(&[i; 32]);
            body.put_u32(7);
            body.put_u64(1_700_000_000_000 + u64::from(i));
        }
        let mut bytes = body.clone();
        bytes.extend_from_slice(&dk.sign(&body));
        let u = LeaseSet::parse(&bytes).unwrap();
        let ls = u.dangerous_inner();
        assert_eq!(ls.to_bytes(), bytes);
        assert_eq!(ls.leases().len(), 2);
        assert_eq!(
            ls.earliest_expiration(),
            Some(Date::from_millis(1_700_000_000_000))
        );
        assert_eq!(
            ls.latest_expiration(),
            Some(Date::from_millis(1_700_000_000_001))
        );
        assert_eq!(ls.store_key(), destination(&dk).hash());
        u.verify().unwrap();

        let mut flipped = bytes.clone();
        flipped[400] ^= 1;
        assert!(LeaseSet::parse(&flipped).unwrap().verify().is_err());

        let count_off = body.len() - 2 * 44 - 1;
        let mut b = bytes.clone();
        b[count_off] = 17;
        let e = LeaseSet::parse(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("leaseset lease count", count_off));
    }

    fn els_body(
        blinded_type: SigType,
        blinded_key: &[u8],
        offline: Option<&[u8]>,
        ciphertext: &[u8],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_u16(blinded_type.code());
        b.put_bytes(blinded_key);
        b.put_u32(NOW_S);
        b.put_u16(600);
        b.put_u16(if offline.is_some() { 1 } else { 0 });
        if let Some(o) = offline {
            b.put_bytes(o);
        }
        b.put_u16(ciphertext.len() as u16);
        b.put_bytes(ciphertext);
        b
    }

    #[test]
    fn encrypted_leaseset_outer_layer() {
        // Blinded keys are Red25519 (type 11) in practice; the layer is generic over the type,
        // and Ed25519 lets this test sign.
        let bk = key(4);
        let body = els_body(
            SigType::EdDsaSha512Ed25519,
            &bk.public_bytes(),
            None,
            &[0xC0; 100],
        );
        let bytes = sign_with_type(&bk, 5, &body);
        let u = EncryptedLeaseSet::parse(&bytes).unwrap();
        let els = u.dangerous_inner();
        assert_eq!(els.to_bytes(), bytes);
        assert_eq!(els.ciphertext(), &[0xC0; 100]);
        assert_eq!(els.expires(), seconds(NOW_S + 600));
        let mut pre = vec![0, 7];
        pre.extend_from_slice(&bk.public_bytes());
        let expect: [u8; 32] = Sha256::digest(&pre).into();
        assert_eq!(els.store_key(), expect);
        u.verify(now()).unwrap();

        let mut flipped = bytes.clone();
        flipped[60] ^= 1;
        assert!(
            EncryptedLeaseSet::parse(&flipped)
                .unwrap()
                .verify(now())
                .is_err()
        );

        // With an offline block signed by the blinded key; the transient key signs the rest.
        let tk = key(5);
        let block = offline_block(&bk, &tk, NOW_S + 100);
        let body = els_body(
            SigType::EdDsaSha512Ed25519,
            &bk.public_bytes(),
            Some(&block),
            &[1; 40],
        );
        let bytes = sign_with_type(&tk, 5, &body);
        let u = EncryptedLeaseSet::parse(&bytes).unwrap();
        assert_eq!(u.dangerous_inner().to_bytes(), bytes);
        u.clone().verify(now()).unwrap();
        assert!(matches!(
            u.verify(seconds(NOW_S + 101)),
            Err(VerifyError::OfflineExpired { .. })
        ));
    }

    #[test]
    fn encrypted_leaseset_red25519_layout_and_errors() {
        let body = els_body(SigType::RedDsaSha512Ed25519, &[9; 32], None, &[2; 50]);
        let mut bytes = body.clone();
        bytes.extend([0xEE; 64]);
        let u = EncryptedLeaseSet::parse(&bytes).unwrap();
        assert_eq!(
            u.dangerous_inner().blinded_sig_type(),
            SigType::RedDsaSha512Ed25519
        );
        assert_eq!(u.dangerous_inner().to_bytes(), bytes);
        let mut pre = vec![0, 11];
        pre.extend([9; 32]);
        let expect: [u8; 32] = Sha256::digest(&pre).into();
        assert_eq!(u.dangerous_inner().store_key(), expect);

        let body = els_body(SigType::RedDsaSha512Ed25519, &[9; 32], None, &[]);
        let e = EncryptedLeaseSet::parse(&body).unwrap_err();
        assert_eq!(
            (e.what, e.offset),
            ("encrypted leaseset ciphertext length", 2 + 32 + 8)
        );

        let e = EncryptedLeaseSet::parse(&[0x00, 0x63, 1, 2]).unwrap_err();
        assert_eq!(
            (e.what, e.offset),
            ("encrypted leaseset blinded sig type", 0)
        );
        assert!(matches!(e.kind, WireErrorKind::Unsupported(_)));

        let body = els_body(SigType::RedDsaSha512Ed25519, &[9; 32], None, &[2; 50]);
        let e = EncryptedLeaseSet::parse(&body[..body.len() - 10]).unwrap_err();
        assert_eq!(
            (e.what, e.offset),
            ("encrypted leaseset ciphertext", 2 + 32 + 10)
        );
    }

    #[test]
    fn meta_leaseset() {
        let dk = key(6);
        let mut body = destination(&dk).to_bytes();
        body.put_u32(NOW_S);
        body.put_u16(65535);
        body.put_u16(0);
        body.put_u16(0); // empty options
        body.put_u8(2);
        for i in 0..2u8 {
            body.put_bytes(&[i; 32]);
            body.put_bytes(&[0, 0, 3]);
            body.put_u8(10 + i);
            body.put_u32(NOW_S + 100);
        }
        body.put_u8(1);
        body.put_bytes(&[0xAA; 32]);
        let bytes = sign_with_type(&dk, 7, &body);
        let u = MetaLeaseSet::parse(&bytes).unwrap();
        let m = u.dangerous_inner();
        assert_eq!(m.to_bytes(), bytes);
        assert_eq!(m.leases()[1].cost, 11);
        assert_eq!(m.leases()[0].entry_type(), 3);
        assert_eq!(m.revocations(), &[[0xAA; 32]]);
        assert_eq!(m.header().expires(), seconds(NOW_S + 65535));
        u.clone().verify(now()).unwrap();
        // Signed as if it were a LeaseSet2: the type byte differs, so it must fail.
        let as_ls2 = sign_with_type(&dk, 3, &body);
        assert!(MetaLeaseSet::parse(&as_ls2).unwrap().verify(now()).is_err());

        let count_off = destination(&dk).len() + 8 + 2;
        let mut b = bytes.clone();
        b[count_off] = 0;
        let e = MetaLeaseSet::parse(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("meta leaseset lease count", count_off));
    }

    #[test]
    fn any_leaseset_dispatch() {
        let dk = key(1);
        let bytes = sign_with_type(&dk, 3, &ls2_body(&dk, None));
        let u = AnyLeaseSet::parse(3, &bytes).unwrap();
        assert_eq!(u.dangerous_inner().store_type(), 3);
        assert_eq!(u.dangerous_inner().store_key(), destination(&dk).hash());
        assert_eq!(u.dangerous_inner().expires(), Some(seconds(NOW_S + 600)));
        let v = u.verify(now()).unwrap();
        assert_eq!(v.to_bytes(), bytes);
        // The same bytes as a MetaLeaseSet do not parse (or verify).
        if let Ok(u) = AnyLeaseSet::parse(7, &bytes) {
            assert!(u.verify(now()).is_err());
        }
        let e = AnyLeaseSet::parse(2, &bytes).unwrap_err();
        assert_eq!(e.what, "database store type");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..1200),
            t in prop::sample::select(vec![1u8, 3, 5, 7]),
        ) {
            let _ = LeaseSet2::parse(&bytes);
            let _ = AnyLeaseSet::parse(t, &bytes);
        }

        #[test]
        fn mutated_leaseset2_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            offline in any::<bool>(),
        ) {
            let dk = key(1);
            let tk = key(2);
            let block = offline_block(&dk, &tk, NOW_S + 3600);
            let body = ls2_body(&dk, offline.then_some(&block[..]));
            let mut b = sign_with_type(if offline { &tk } else { &dk }, 3, &body);
            for (i, v) in edits {
                let at = i.index(b.len());
                b[at] = v;
            }
            b.truncate(cut.index(b.len() + 1));
            if let Ok(u) = LeaseSet2::parse(&b) {
                prop_assert_eq!(u.dangerous_inner().to_bytes(), b);
                let _ = u.verify(now());
            }
        }
    }
}

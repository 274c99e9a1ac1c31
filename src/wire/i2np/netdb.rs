//! Network database messages: DatabaseStore (1), DatabaseLookup (2), DatabaseSearchReply (3).

use std::num::NonZeroU32;

use super::{check_count, encode_err, encode_len, read_arrays};
use crate::wire::{Reader, WireError, WireErrorKind, Writer};

/// Spec limit on DatabaseLookup excluded peers ("valid range: 0-512").
pub const MAX_EXCLUDED_PEERS: usize = 512;
/// Spec limit on ElGamal/AES reply tags in a DatabaseLookup ("valid range: 1-32").
pub const MAX_REPLY_TAGS: usize = 32;

/// What a DatabaseStore carries, from bits 3-0 of its type byte (bit 0: RouterInfo vs LeaseSet,
/// bits 3-1 as of 0.9.38: the LeaseSet variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    RouterInfo,
    LeaseSet,
    LeaseSet2,
    EncryptedLeaseSet,
    MetaLeaseSet,
}

impl StoreKind {
    /// Decode a full type byte. Bits 7-4 are ignored per spec (reserved since 0.9.18); any
    /// low-nibble value other than 0, 1, 3, 5, 7 is "unsupported, invalid".
    pub fn from_type_byte(b: u8) -> Option<Self> {
        Some(match b & 0x0f {
            0 => Self::RouterInfo,
            1 => Self::LeaseSet,
            3 => Self::LeaseSet2,
            5 => Self::EncryptedLeaseSet,
            7 => Self::MetaLeaseSet,
            _ => return None,
        })
    }

    /// The type code (low nibble of the type byte).
    pub fn code(self) -> u8 {
        match self {
            Self::RouterInfo => 0,
            Self::LeaseSet => 1,
            Self::LeaseSet2 => 3,
            Self::EncryptedLeaseSet => 5,
            Self::MetaLeaseSet => 7,
        }
    }

    pub fn is_leaseset(self) -> bool {
        self != Self::RouterInfo
    }
}

/// The reply request of a DatabaseStore (present iff the reply token is nonzero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreReply {
    /// Message id for the requested DeliveryStatus; nonzero by construction because zero on
    /// the wire means "no reply fields follow".
    pub token: NonZeroU32,
    /// Inbound gateway tunnel of the reply; 0 means reply directly to `gateway`.
    pub tunnel_id: u32,
    /// Router hash of the reply gateway (or of the router itself when `tunnel_id` is 0).
    pub gateway: [u8; 32],
}

/// DatabaseStore (type 1). The entry stays raw: its codec is elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseStore {
    /// The real (not routing) hash of the RouterIdentity or Destination.
    pub key: [u8; 32],
    pub kind: StoreKind,
    /// Bits 7-4 of the type byte exactly as received (ignored by the spec, kept so the full
    /// type byte is preserved); only the 0xF0 bits are used when encoding.
    pub type_reserved_bits: u8,
    pub reply: Option<StoreReply>,
    /// RouterInfo: the gzip-compressed RouterInfo without its 2-byte length prefix.
    /// LeaseSet variants: the uncompressed entry (the rest of the message).
    pub data: Vec<u8>,
}

impl DatabaseStore {
    /// The type byte as it appears on the wire.
    pub fn type_byte(&self) -> u8 {
        (self.type_reserved_bits & 0xf0) | self.kind.code()
    }

    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let key = r.array("DatabaseStore key")?;
        let type_offset = r.offset();
        let type_byte = r.u8("DatabaseStore type")?;
        let kind = StoreKind::from_type_byte(type_byte).ok_or_else(|| {
            WireError::unsupported(
                "DatabaseStore type",
                type_offset,
                format!("store type byte {type_byte:#04x}"),
            )
        })?;
        let token = r.u32("DatabaseStore reply token")?;
        let reply = match NonZeroU32::new(token) {
            None => None,
            Some(token) => Some(StoreReply {
                token,
                tunnel_id: r.u32("DatabaseStore reply tunnel id")?,
                gateway: r.array("DatabaseStore reply gateway")?,
            }),
        };
        let data_offset = r.offset();
        let data = match kind {
            StoreKind::RouterInfo => {
                let len = r.u16("DatabaseStore RouterInfo length")?;
                r.bytes(usize::from(len), "DatabaseStore RouterInfo data")?
            }
            _ => r.rest(),
        };
        if data.is_empty() {
            // No entry of any kind is zero bytes long; catching it here keeps the netdb from
            // seeing a store with nothing to store.
            return Err(WireError::invalid(
                "DatabaseStore data",
                data_offset,
                "empty entry",
            ));
        }
        Ok(Self {
            key,
            kind,
            type_reserved_bits: type_byte & 0xf0,
            reply,
            data: data.to_vec(),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.put_bytes(&self.key);
        out.put_u8(self.type_byte());
        match &self.reply {
            None => out.put_u32(0),
            Some(reply) => {
                out.put_u32(reply.token.get());
                out.put_u32(reply.tunnel_id);
                out.put_bytes(&reply.gateway);
            }
        }
        if self.data.is_empty() {
            return Err(WireError::invalid(
                "DatabaseStore data",
                out.len(),
                "empty entry",
            ));
        }
        if self.kind == StoreKind::RouterInfo {
            encode_len(
                "DatabaseStore RouterInfo length",
                out,
                self.data.len(),
                u16::MAX as usize,
            )?;
            out.put_u16(self.data.len() as u16);
        }
        out.put_bytes(&self.data);
        Ok(())
    }
}

/// DatabaseLookup flag bits 3-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupType {
    /// 00: RouterInfo, LeaseSet or DSRM. Deprecated since 0.9.16 but still valid on the wire.
    Any,
    /// 01: any LeaseSet variant or DSRM.
    LeaseSet,
    /// 10: RouterInfo or DSRM.
    RouterInfo,
    /// 11: DSRM listing non-floodfill routers.
    Exploration,
}

impl LookupType {
    fn from_bits(b: u8) -> Self {
        match b & 0b11 {
            0 => Self::Any,
            1 => Self::LeaseSet,
            2 => Self::RouterInfo,
            _ => Self::Exploration,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::Any => 0,
            Self::LeaseSet => 1,
            Self::RouterInfo => 2,
            Self::Exploration => 3,
        }
    }
}

/// How the requester wants the reply encrypted (flag bits 4 and 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyEncryption {
    /// Bits 4,1 = 0,0: plain reply; no key or tags follow.
    None,
    /// Bits 4,1 = 0,1: ElGamal/AES session key and 1-32 32-byte session tags.
    ElGamalAes {
        reply_key: [u8; 32],
        tags: Vec<[u8; 32]>,
    },
    /// Bits 4,1 = 1,0: ChaCha20/Poly1305 key and exactly one 8-byte tag (the spec's "required
    /// value: 1" for the tag count). The combination 1,1 ("DH yes", TBD in the spec) has no
    /// defined wire format and is rejected as unsupported.
    Ecies { reply_key: [u8; 32], tag: [u8; 8] },
}

const FLAG_DELIVERY: u8 = 0x01;
const FLAG_ENCRYPTION: u8 = 0x02;
const FLAG_ECIES: u8 = 0x10;
const FLAG_RESERVED: u8 = 0xe0;

/// DatabaseLookup (type 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseLookup {
    /// Real hash of the object to look up.
    pub key: [u8; 32],
    /// Requesting router, or the reply tunnel's gateway when `reply_tunnel` is set.
    pub from: [u8; 32],
    /// Delivery flag set: the reply goes to this (nonzero) tunnel at `from`.
    pub reply_tunnel: Option<u32>,
    pub lookup_type: LookupType,
    pub excluded_peers: Vec<[u8; 32]>,
    pub reply_encryption: ReplyEncryption,
    /// Flag bits 7-5 as received: ignored by the spec, kept for byte-exact re-encoding.
    pub reserved_flag_bits: u8,
}

impl DatabaseLookup {
    /// The flags byte as it appears on the wire.
    pub fn flags(&self) -> u8 {
        let mut f = (self.reserved_flag_bits & FLAG_RESERVED) | (self.lookup_type.bits() << 2);
        if self.reply_tunnel.is_some() {
            f |= FLAG_DELIVERY;
        }
        match self.reply_encryption {
            ReplyEncryption::None => {}
            ReplyEncryption::ElGamalAes { .. } => f |= FLAG_ENCRYPTION,
            ReplyEncryption::Ecies { .. } => f |= FLAG_ECIES,
        }
        f
    }

    /// Exploratory either by lookup type or, for old senders, by an all-zero excluded hash.
    pub fn is_exploratory(&self) -> bool {
        self.lookup_type == LookupType::Exploration
            || self.excluded_peers.iter().any(|h| h == &[0u8; 32])
    }

    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let key = r.array("DatabaseLookup key")?;
        let from = r.array("DatabaseLookup from")?;
        let flags_offset = r.offset();
        let flags = r.u8("DatabaseLookup flags")?;
        let reply_tunnel = if flags & FLAG_DELIVERY != 0 {
            let off = r.offset();
            let tid = r.u32("DatabaseLookup reply tunnel id")?;
            if tid == 0 {
                return Err(WireError::invalid(
                    "DatabaseLookup reply tunnel id",
                    off,
                    "must be nonzero when the delivery flag is set",
                ));
            }
            Some(tid)
        } else {
            None
        };
        let count_offset = r.offset();
        let count = usize::from(r.u16("DatabaseLookup excluded peer count")?);
        check_count(
            "DatabaseLookup excluded peer count",
            count_offset,
            count,
            0,
            MAX_EXCLUDED_PEERS,
        )?;
        let excluded_peers = read_arrays::<32>(r, count, "DatabaseLookup excluded peers")?;
        let reply_encryption = match (flags & FLAG_ECIES != 0, flags & FLAG_ENCRYPTION != 0) {
            (false, false) => ReplyEncryption::None,
            (false, true) => {
                let reply_key = r.array("DatabaseLookup reply key")?;
                let off = r.offset();
                let n = usize::from(r.u8("DatabaseLookup reply tag count")?);
                check_count("DatabaseLookup reply tag count", off, n, 1, MAX_REPLY_TAGS)?;
                let tags = read_arrays::<32>(r, n, "DatabaseLookup reply tags")?;
                ReplyEncryption::ElGamalAes { reply_key, tags }
            }
            (true, false) => {
                let reply_key = r.array("DatabaseLookup reply key")?;
                let off = r.offset();
                let n = usize::from(r.u8("DatabaseLookup reply tag count")?);
                check_count("DatabaseLookup reply tag count", off, n, 1, 1)?;
                let tag = r.array("DatabaseLookup reply tags")?;
                ReplyEncryption::Ecies { reply_key, tag }
            }
            (true, true) => {
                return Err(WireError::unsupported(
                    "DatabaseLookup flags",
                    flags_offset,
                    "ECIES and encryption flags both set (DH-derived reply, undefined in spec)",
                ));
            }
        };
        Ok(Self {
            key,
            from,
            reply_tunnel,
            lookup_type: LookupType::from_bits(flags >> 2),
            excluded_peers,
            reply_encryption,
            reserved_flag_bits: flags & FLAG_RESERVED,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.put_bytes(&self.key);
        out.put_bytes(&self.from);
        out.put_u8(self.flags());
        if let Some(tid) = self.reply_tunnel {
            if tid == 0 {
                return Err(WireError::invalid(
                    "DatabaseLookup reply tunnel id",
                    out.len(),
                    "must be nonzero when the delivery flag is set",
                ));
            }
            out.put_u32(tid);
        }
        encode_len(
            "DatabaseLookup excluded peer count",
            out,
            self.excluded_peers.len(),
            MAX_EXCLUDED_PEERS,
        )?;
        out.put_u16(self.excluded_peers.len() as u16);
        for p in &self.excluded_peers {
            out.put_bytes(p);
        }
        match &self.reply_encryption {
            ReplyEncryption::None => {}
            ReplyEncryption::ElGamalAes { reply_key, tags } => {
                out.put_bytes(reply_key);
                if tags.is_empty() {
                    return Err(encode_err(
                        "DatabaseLookup reply tag count",
                        out,
                        WireErrorKind::Invalid("count 0 below minimum 1".into()),
                    ));
                }
                encode_len(
                    "DatabaseLookup reply tag count",
                    out,
                    tags.len(),
                    MAX_REPLY_TAGS,
                )?;
                out.put_u8(tags.len() as u8);
                for t in tags {
                    out.put_bytes(t);
                }
            }
            ReplyEncryption::Ecies { reply_key, tag } => {
                out.put_bytes(reply_key);
                out.put_u8(1);
                out.put_bytes(tag);
            }
        }
        Ok(())
    }
}

/// DatabaseSearchReply (type 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSearchReply {
    pub key: [u8; 32],
    /// At most 255 (1-byte count).
    pub peers: Vec<[u8; 32]>,
    /// Unauthenticated claim of the replying router's hash.
    pub from: [u8; 32],
}

impl DatabaseSearchReply {
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let key = r.array("DatabaseSearchReply key")?;
        let n = usize::from(r.u8("DatabaseSearchReply peer count")?);
        let peers = read_arrays::<32>(r, n, "DatabaseSearchReply peer hashes")?;
        let from = r.array("DatabaseSearchReply from")?;
        Ok(Self { key, peers, from })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.put_bytes(&self.key);
        encode_len(
            "DatabaseSearchReply peer count",
            out,
            self.peers.len(),
            u8::MAX as usize,
        )?;
        out.put_u8(self.peers.len() as u8);
        for p in &self.peers {
            out.put_bytes(p);
        }
        out.put_bytes(&self.from);
        Ok(())
    }
}

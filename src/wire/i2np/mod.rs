//! I2NP message codec (i2np.rst): both header forms and every message body a floodfill and
//! transit router handles.
//!
//! Layering: [`StandardHeader`] / [`ShortHeader`] are the bare headers; [`RawMessage`] is a
//! header plus an unparsed body slice (enough to forward or re-frame a message between NTCP2/SSU2
//! and tunnels without touching the body); [`I2npMessage`] is a header plus a fully parsed
//! [`I2npBody`]. NetDb entries (RouterInfo, LeaseSet variants) and build records stay opaque bytes
//! here: their own codecs and the record crypto live elsewhere.
//!
//! Every body parser reads exactly its own bytes; [`I2npBody::parse`] then insists that the body
//! was consumed completely, so a size field that disagrees with the content is always an error.
//! Encoding is fallible because several public fields (lists, opaque payloads) can be built with
//! lengths the wire format cannot express; encode errors name the field and the offset in the
//! output buffer where it would have been written.

/// How far ahead of our clock an I2NP message may expire: i2pd 2.5x and Java I2P drop messages
/// that expire later (i2pd's `I2NP_MESSAGE_CLOCK_SKEW`), and so does floodgate, for messages to
/// the router (the dispatcher) and relayed TunnelData (the transit shards) alike.
pub const MAX_EXPIRATION_AHEAD_MS: u64 = 60_000;

mod header;
mod netdb;
mod simple;
mod tunnel;

#[cfg(test)]
mod tests;

pub use header::{ShortHeader, StandardHeader, checksum};
pub use netdb::{
    DatabaseLookup, DatabaseSearchReply, DatabaseStore, LookupType, MAX_EXCLUDED_PEERS,
    MAX_REPLY_TAGS, ReplyEncryption, StoreKind, StoreReply,
};
pub use simple::{Data, DeliveryStatus, Garlic};
pub use tunnel::{
    BUILD_RECORD_LEN, BuildRecord, MAX_BUILD_RECORDS, OutboundTunnelBuildReply,
    SHORT_BUILD_RECORD_LEN, ShortBuildRecord, ShortTunnelBuild, TUNNEL_DATA_LEN, TunnelBuild,
    TunnelBuildReply, TunnelData, TunnelGateway, VariableTunnelBuild, VariableTunnelBuildReply,
};

use crate::wire::{Reader, WireError, WireErrorKind};

/// The I2NP message type codes this router understands. Reserved (0), experimental (224-254)
/// and future (255) codes, as well as unassigned ones, are rejected as unsupported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageType {
    DatabaseStore = 1,
    DatabaseLookup = 2,
    DatabaseSearchReply = 3,
    DeliveryStatus = 10,
    Garlic = 11,
    TunnelData = 18,
    TunnelGateway = 19,
    Data = 20,
    TunnelBuild = 21,
    TunnelBuildReply = 22,
    VariableTunnelBuild = 23,
    VariableTunnelBuildReply = 24,
    ShortTunnelBuild = 25,
    OutboundTunnelBuildReply = 26,
}

impl MessageType {
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::DatabaseStore,
            2 => Self::DatabaseLookup,
            3 => Self::DatabaseSearchReply,
            10 => Self::DeliveryStatus,
            11 => Self::Garlic,
            18 => Self::TunnelData,
            19 => Self::TunnelGateway,
            20 => Self::Data,
            21 => Self::TunnelBuild,
            22 => Self::TunnelBuildReply,
            23 => Self::VariableTunnelBuild,
            24 => Self::VariableTunnelBuildReply,
            25 => Self::ShortTunnelBuild,
            26 => Self::OutboundTunnelBuildReply,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// Stable name, also used as the field name of whole-body errors and as a metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Self::DatabaseStore => "DatabaseStore",
            Self::DatabaseLookup => "DatabaseLookup",
            Self::DatabaseSearchReply => "DatabaseSearchReply",
            Self::DeliveryStatus => "DeliveryStatus",
            Self::Garlic => "Garlic",
            Self::TunnelData => "TunnelData",
            Self::TunnelGateway => "TunnelGateway",
            Self::Data => "Data",
            Self::TunnelBuild => "TunnelBuild",
            Self::TunnelBuildReply => "TunnelBuildReply",
            Self::VariableTunnelBuild => "VariableTunnelBuild",
            Self::VariableTunnelBuildReply => "VariableTunnelBuildReply",
            Self::ShortTunnelBuild => "ShortTunnelBuild",
            Self::OutboundTunnelBuildReply => "OutboundTunnelBuildReply",
        }
    }

    /// Decode a type byte read at absolute `offset`.
    fn decode(code: u8, offset: usize) -> Result<Self, WireError> {
        Self::from_code(code).ok_or_else(|| {
            WireError::unsupported("i2np type", offset, format!("message type {code}"))
        })
    }
}

/// Fail with `Invalid` below `min` and `TooLong` above `max`; `offset` is that of the count.
fn check_count(
    what: &'static str,
    offset: usize,
    n: usize,
    min: usize,
    max: usize,
) -> Result<(), WireError> {
    if n < min {
        return Err(WireError::invalid(
            what,
            offset,
            format!("count {n} below minimum {min}"),
        ));
    }
    if n > max {
        return Err(WireError::new(
            what,
            offset,
            WireErrorKind::TooLong { len: n, max },
        ));
    }
    Ok(())
}

/// Read `count` fixed-size items. The total is checked against the remaining bytes before
/// allocating so a forged count cannot make us reserve memory the message does not back.
fn read_arrays<const N: usize>(
    r: &mut Reader<'_>,
    count: usize,
    what: &'static str,
) -> Result<Vec<[u8; N]>, WireError> {
    let need = count.checked_mul(N).ok_or_else(|| {
        r.err(
            what,
            WireErrorKind::TooLong {
                len: count,
                max: r.remaining() / N.max(1),
            },
        )
    })?;
    if need > r.remaining() {
        return Err(r.err(
            what,
            WireErrorKind::Truncated {
                need,
                have: r.remaining(),
            },
        ));
    }
    let mut v = Vec::with_capacity(count);
    for _ in 0..count {
        v.push(r.array::<N>(what)?);
    }
    Ok(v)
}

/// An encode-side error for a field that would start at the current end of `out`.
fn encode_err(what: &'static str, out: &[u8], kind: WireErrorKind) -> WireError {
    WireError::new(what, out.len(), kind)
}

/// A length that must fit an integer field of `max`; the error names the field.
fn encode_len(what: &'static str, out: &[u8], len: usize, max: usize) -> Result<(), WireError> {
    if len > max {
        return Err(encode_err(what, out, WireErrorKind::TooLong { len, max }));
    }
    Ok(())
}

/// A parsed message body, one variant per supported type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum I2npBody {
    DatabaseStore(DatabaseStore),
    DatabaseLookup(DatabaseLookup),
    DatabaseSearchReply(DatabaseSearchReply),
    DeliveryStatus(DeliveryStatus),
    Garlic(Garlic),
    TunnelData(TunnelData),
    TunnelGateway(TunnelGateway),
    Data(Data),
    TunnelBuild(TunnelBuild),
    TunnelBuildReply(TunnelBuildReply),
    VariableTunnelBuild(VariableTunnelBuild),
    VariableTunnelBuildReply(VariableTunnelBuildReply),
    ShortTunnelBuild(ShortTunnelBuild),
    OutboundTunnelBuildReply(OutboundTunnelBuildReply),
}

impl I2npBody {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Self::DatabaseStore(_) => MessageType::DatabaseStore,
            Self::DatabaseLookup(_) => MessageType::DatabaseLookup,
            Self::DatabaseSearchReply(_) => MessageType::DatabaseSearchReply,
            Self::DeliveryStatus(_) => MessageType::DeliveryStatus,
            Self::Garlic(_) => MessageType::Garlic,
            Self::TunnelData(_) => MessageType::TunnelData,
            Self::TunnelGateway(_) => MessageType::TunnelGateway,
            Self::Data(_) => MessageType::Data,
            Self::TunnelBuild(_) => MessageType::TunnelBuild,
            Self::TunnelBuildReply(_) => MessageType::TunnelBuildReply,
            Self::VariableTunnelBuild(_) => MessageType::VariableTunnelBuild,
            Self::VariableTunnelBuildReply(_) => MessageType::VariableTunnelBuildReply,
            Self::ShortTunnelBuild(_) => MessageType::ShortTunnelBuild,
            Self::OutboundTunnelBuildReply(_) => MessageType::OutboundTunnelBuildReply,
        }
    }

    /// Parse a complete body of type `ty`; every byte of `r` must belong to the body.
    pub fn parse(ty: MessageType, r: &mut Reader<'_>) -> Result<Self, WireError> {
        let body = match ty {
            MessageType::DatabaseStore => Self::DatabaseStore(DatabaseStore::parse(r)?),
            MessageType::DatabaseLookup => Self::DatabaseLookup(DatabaseLookup::parse(r)?),
            MessageType::DatabaseSearchReply => {
                Self::DatabaseSearchReply(DatabaseSearchReply::parse(r)?)
            }
            MessageType::DeliveryStatus => Self::DeliveryStatus(DeliveryStatus::parse(r)?),
            MessageType::Garlic => Self::Garlic(Garlic::parse(r)?),
            MessageType::TunnelData => Self::TunnelData(TunnelData::parse(r)?),
            MessageType::TunnelGateway => Self::TunnelGateway(TunnelGateway::parse(r)?),
            MessageType::Data => Self::Data(Data::parse(r)?),
            MessageType::TunnelBuild => Self::TunnelBuild(TunnelBuild::parse(r)?),
            MessageType::TunnelBuildReply => Self::TunnelBuildReply(TunnelBuildReply::parse(r)?),
            MessageType::VariableTunnelBuild => {
                Self::VariableTunnelBuild(VariableTunnelBuild::parse(r)?)
            }
            MessageType::VariableTunnelBuildReply => {
                Self::VariableTunnelBuildReply(VariableTunnelBuildReply::parse(r)?)
            }
            MessageType::ShortTunnelBuild => Self::ShortTunnelBuild(ShortTunnelBuild::parse(r)?),
            MessageType::OutboundTunnelBuildReply => {
                Self::OutboundTunnelBuildReply(OutboundTunnelBuildReply::parse(r)?)
            }
        };
        r.finish(ty.name())?;
        Ok(body)
    }

    /// Append the body encoding to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Self::DatabaseStore(m) => m.write(out),
            Self::DatabaseLookup(m) => m.write(out),
            Self::DatabaseSearchReply(m) => m.write(out),
            Self::DeliveryStatus(m) => m.write(out),
            Self::Garlic(m) => m.write(out),
            Self::TunnelData(m) => m.write(out),
            Self::TunnelGateway(m) => m.write(out),
            Self::Data(m) => m.write(out),
            Self::TunnelBuild(m) => m.write(out),
            Self::TunnelBuildReply(m) => m.write(out),
            Self::VariableTunnelBuild(m) => m.write(out),
            Self::VariableTunnelBuildReply(m) => m.write(out),
            Self::ShortTunnelBuild(m) => m.write(out),
            Self::OutboundTunnelBuildReply(m) => m.write(out),
        }
    }

    /// The body encoding on its own.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }
}

/// A message whose header is decoded but whose body is still a byte slice.
///
/// Useful for re-framing (short header from NTCP2/SSU2 to the standard header inside a
/// TunnelGateway, and back) without a decode/encode round trip of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMessage<'a> {
    pub msg_type: MessageType,
    pub msg_id: u32,
    /// Milliseconds since the epoch; a short header's seconds are scaled up.
    pub expiration_ms: u64,
    pub body: &'a [u8],
    /// Absolute offset of `body[0]` in the buffer it was read from, so that a later
    /// [`RawMessage::parse_body`] reports offsets in that buffer.
    pub body_offset: usize,
}

impl<'a> RawMessage<'a> {
    /// Read one standard-header message (header + `size` body bytes) from `r`, verifying the
    /// checksum. Bytes after the message are left in `r` (the caller may hold several).
    pub fn read_standard(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let start = r.offset();
        let header = StandardHeader::parse(r)?;
        let msg_type = MessageType::decode(header.msg_type, start)?;
        let mut body = r.sub(usize::from(header.size), "i2np body")?;
        let body_offset = body.offset();
        let body = body.rest();
        header.verify_checksum(body, start + 15)?;
        Ok(Self {
            msg_type,
            msg_id: header.msg_id,
            expiration_ms: header.expiration_ms,
            body,
            body_offset,
        })
    }

    /// Exactly one standard-header message: bytes beyond `size` are a `Trailing` error.
    pub fn parse_standard(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let m = Self::read_standard(&mut r)?;
        r.finish("i2np message")?;
        Ok(m)
    }

    /// A short-header message whose body is everything left in `r` (the NTCP2/SSU2 block
    /// length delimits it).
    pub fn read_short(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let start = r.offset();
        let header = ShortHeader::parse(r)?;
        let msg_type = MessageType::decode(header.msg_type, start)?;
        let body_offset = r.offset();
        Ok(Self {
            msg_type,
            msg_id: header.msg_id,
            expiration_ms: header.expiration_ms(),
            body: r.rest(),
            body_offset,
        })
    }

    pub fn parse_short(buf: &'a [u8]) -> Result<Self, WireError> {
        Self::read_short(&mut Reader::new(buf))
    }

    pub fn parse_body(&self) -> Result<I2npBody, WireError> {
        I2npBody::parse(
            self.msg_type,
            &mut Reader::with_base(self.body, self.body_offset),
        )
    }

    pub fn into_message(self) -> Result<I2npMessage, WireError> {
        Ok(I2npMessage {
            msg_id: self.msg_id,
            expiration_ms: self.expiration_ms,
            body: self.parse_body()?,
        })
    }

    pub fn standard_header(&self) -> Result<StandardHeader, WireError> {
        StandardHeader::for_body(
            self.msg_type.code(),
            self.msg_id,
            self.expiration_ms,
            self.body,
        )
    }

    pub fn short_header(&self) -> ShortHeader {
        ShortHeader {
            msg_type: self.msg_type.code(),
            msg_id: self.msg_id,
            expiration_s: (self.expiration_ms / 1000) as u32,
        }
    }

    /// Standard header (fresh size and checksum) followed by the body.
    pub fn write_standard(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let header = self
            .standard_header()
            .map_err(|e| e.at_base(out.len() + 9))?;
        header.write(out);
        out.extend_from_slice(self.body);
        Ok(())
    }

    pub fn write_short(&self, out: &mut Vec<u8>) {
        self.short_header().write(out);
        out.extend_from_slice(self.body);
    }
}

/// A complete I2NP message: header fields plus parsed body. Size and checksum are not stored:
/// they are derived from the body whenever the standard header is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I2npMessage {
    pub msg_id: u32,
    /// Milliseconds since the epoch (I2P `Date`).
    pub expiration_ms: u64,
    pub body: I2npBody,
}

impl I2npMessage {
    pub fn msg_type(&self) -> MessageType {
        self.body.msg_type()
    }

    /// Expiration in seconds as carried by the short header (truncated, wrapping in 2106 as
    /// the spec describes).
    pub fn short_expiration(&self) -> u32 {
        (self.expiration_ms / 1000) as u32
    }

    /// One standard-header message from `r`; following bytes stay in `r`.
    pub fn read_standard(r: &mut Reader<'_>) -> Result<Self, WireError> {
        RawMessage::read_standard(r)?.into_message()
    }

    /// Exactly one standard-header message filling `buf`.
    pub fn parse_standard(buf: &[u8]) -> Result<Self, WireError> {
        RawMessage::parse_standard(buf)?.into_message()
    }

    /// A short-header message; the body is the rest of `r`.
    pub fn read_short(r: &mut Reader<'_>) -> Result<Self, WireError> {
        RawMessage::read_short(r)?.into_message()
    }

    /// A short-header message filling `buf` (e.g. one NTCP2/SSU2 I2NP block).
    pub fn parse_short(buf: &[u8]) -> Result<Self, WireError> {
        RawMessage::parse_short(buf)?.into_message()
    }

    pub fn write_standard(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        // The header needs size and checksum of the body, so encode the body first; body
        // encode errors are shifted to where the body would have started in `out`.
        let base = out.len() + StandardHeader::LEN;
        let body = self.body.to_bytes().map_err(|e| e.at_base(base))?;
        let header = StandardHeader::for_body(
            self.msg_type().code(),
            self.msg_id,
            self.expiration_ms,
            &body,
        )
        .map_err(|e| e.at_base(out.len() + 9))?;
        header.write(out);
        out.extend_from_slice(&body);
        Ok(())
    }

    pub fn write_short(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        ShortHeader {
            msg_type: self.msg_type().code(),
            msg_id: self.msg_id,
            expiration_s: self.short_expiration(),
        }
        .write(out);
        self.body.write(out).inspect_err(|_| out.truncate(start))
    }

    pub fn to_standard_bytes(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.write_standard(&mut out)?;
        Ok(out)
    }

    pub fn to_short_bytes(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.write_short(&mut out)?;
        Ok(out)
    }
}

/// Re-frame a standard-header message (checksum verified) as a short-header message.
pub fn standard_to_short(buf: &[u8]) -> Result<Vec<u8>, WireError> {
    let raw = RawMessage::parse_standard(buf)?;
    let mut out = Vec::with_capacity(
        buf.len()
            .saturating_sub(StandardHeader::LEN - ShortHeader::LEN),
    );
    raw.write_short(&mut out);
    Ok(out)
}

/// Re-frame a short-header message as a standard-header message (size and checksum computed).
pub fn short_to_standard(buf: &[u8]) -> Result<Vec<u8>, WireError> {
    let raw = RawMessage::parse_short(buf)?;
    let mut out = Vec::with_capacity(
        buf.len()
            .saturating_add(StandardHeader::LEN - ShortHeader::LEN),
    );
    raw.write_standard(&mut out)?;
    Ok(out)
}

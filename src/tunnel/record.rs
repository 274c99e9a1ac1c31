//! Cleartext build records (tunnel-creation-ecies.rst): the short (154-byte) and long (464-byte)
//! request records and the short (202-byte) and long (512-byte) reply records. Parsers return
//! typed [`WireError`]s; offsets are relative to the cleartext record.

use super::{HopRole, RouterHash, TunnelId};
use crate::wire::{Mapping, Reader, WireError, Writer};
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Cleartext ShortBuildRequestRecord length.
pub const SHORT_REQUEST_LEN: usize = 154;
/// Cleartext ShortBuildReplyRecord length.
pub const SHORT_REPLY_LEN: usize = 202;
/// Cleartext ECIES (long) BuildRequestRecord length.
pub const LONG_REQUEST_LEN: usize = 464;
/// Cleartext ECIES (long) BuildReplyRecord length.
pub const LONG_REPLY_LEN: usize = 512;

/// Largest options Mapping (size field included) in a short request record.
pub const SHORT_REQUEST_MAX_OPTIONS: usize = 98;
/// ... in a long request record.
pub const LONG_REQUEST_MAX_OPTIONS: usize = 296;
/// Offset of the options Mapping in the short request record.
const SHORT_OPTIONS_OFFSET: usize = 56;
/// Offset of the options Mapping in the long request record.
const LONG_OPTIONS_OFFSET: usize = 168;

/// Reply byte: accepted.
pub const REPLY_ACCEPT: u8 = 0;
/// Reply byte: TUNNEL_REJECT_BANDWIDTH, the only rejection code ECIES hops send (others would
/// fingerprint the reason).
pub const REPLY_REJECT_BANDWIDTH: u8 = 30;

/// Fields common to the short and long request records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The tunnel id we receive messages on.
    pub receive_tunnel: TunnelId,
    /// The tunnel id at the next hop (for an OBEP: the reply tunnel at the reply gateway).
    pub next_tunnel: TunnelId,
    /// The next hop (for an OBEP: the reply tunnel's gateway).
    pub next_ident: RouterHash,
    pub role: HopRole,
    /// The flag bits other than IBGW/OBEP plus the "more flags" bytes, kept so a record can be
    /// written back exactly. Must be zero per spec; we ignore them on receipt.
    pub reserved_flags: u32,
    /// Short records only: 0 = AES (the only type defined).
    pub layer_encryption: u8,
    /// Minutes since the epoch, rounded down.
    pub request_time_min: u32,
    /// Seconds since creation; 600 is the only supported value.
    pub expiration_s: u32,
    /// The I2NP message id of the message we send onwards (next build or the reply).
    pub next_msg_id: u32,
    pub options: Mapping,
}

/// Long records carry their layer and AES reply keys explicitly.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LongRecordKeys {
    pub layer_key: [u8; 32],
    pub iv_key: [u8; 32],
    pub reply_key: [u8; 32],
    pub reply_iv: [u8; 16],
}

impl std::fmt::Debug for LongRecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LongRecordKeys(..)")
    }
}

fn role_from_flags(flags: u8, off: usize) -> Result<HopRole, WireError> {
    match (flags & 0x80 != 0, flags & 0x40 != 0) {
        (false, false) => Ok(HopRole::Participant),
        (true, false) => Ok(HopRole::InboundGateway),
        (false, true) => Ok(HopRole::OutboundEndpoint),
        (true, true) => Err(WireError::invalid(
            "build record flags",
            off,
            "both inbound gateway and outbound endpoint set",
        )),
    }
}

fn nonzero_tid(r: &mut Reader<'_>, what: &'static str) -> Result<TunnelId, WireError> {
    let off = r.offset();
    let v = r.u32(what)?;
    if v == 0 {
        return Err(WireError::invalid(what, off, "tunnel id must be nonzero"));
    }
    Ok(v)
}

/// Read the options Mapping, enforcing the record's bound on its size.
fn read_options(r: &mut Reader<'_>, max: usize) -> Result<Mapping, WireError> {
    let off = r.offset();
    let m = Mapping::read(r)?;
    if m.wire_len() > max {
        return Err(WireError::new(
            "build options",
            off,
            crate::wire::WireErrorKind::TooLong {
                len: m.wire_len(),
                max,
            },
        ));
    }
    Ok(m)
}

fn write_options(
    out: &mut Vec<u8>,
    options: &Mapping,
    max: usize,
    what: &'static str,
) -> Result<(), WireError> {
    if options.wire_len() > max {
        return Err(WireError::new(
            what,
            out.len(),
            crate::wire::WireErrorKind::TooLong {
                len: options.wire_len(),
                max,
            },
        ));
    }
    options.write(out);
    Ok(())
}

/// Fill the rest of a record with random bytes (the spec's "random padding").
fn pad_random(out: &mut Vec<u8>, len: usize, rng: &mut impl RngCore) {
    let start = out.len();
    if start < len {
        out.resize(len, 0);
        rng.fill_bytes(&mut out[start..]);
    }
}

impl BuildRequest {
    /// Parse a 154-byte short request cleartext.
    pub fn parse_short(buf: &[u8; SHORT_REQUEST_LEN]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let receive_tunnel = nonzero_tid(&mut r, "receive tunnel id")?;
        let next_tunnel = nonzero_tid(&mut r, "next tunnel id")?;
        let next_ident = r.array("next ident")?;
        let flags_off = r.offset();
        let flags = r.u8("build record flags")?;
        let role = role_from_flags(flags, flags_off)?;
        let more = r.u16("build record more flags")?;
        let layer_encryption = r.u8("layer encryption type")?;
        let request_time_min = r.u32("request time")?;
        let expiration_s = r.u32("request expiration")?;
        let next_msg_id = r.u32("next message id")?;
        debug_assert_eq!(r.offset(), SHORT_OPTIONS_OFFSET);
        let options = read_options(&mut r, SHORT_REQUEST_MAX_OPTIONS)?;
        Ok(Self {
            receive_tunnel,
            next_tunnel,
            next_ident,
            role,
            reserved_flags: (u32::from(flags & 0x3f) << 16) | u32::from(more),
            layer_encryption,
            request_time_min,
            expiration_s,
            next_msg_id,
            options,
        })
    }

    /// Encode as a 154-byte short request cleartext with random padding.
    pub fn write_short(
        &self,
        rng: &mut impl RngCore,
    ) -> Result<[u8; SHORT_REQUEST_LEN], WireError> {
        let mut out = Vec::with_capacity(SHORT_REQUEST_LEN);
        out.put_u32(self.receive_tunnel);
        out.put_u32(self.next_tunnel);
        out.put_bytes(&self.next_ident);
        out.put_u8(self.role.flags() | ((self.reserved_flags >> 16) as u8 & 0x3f));
        out.put_u16(self.reserved_flags as u16);
        out.put_u8(self.layer_encryption);
        out.put_u32(self.request_time_min);
        out.put_u32(self.expiration_s);
        out.put_u32(self.next_msg_id);
        write_options(
            &mut out,
            &self.options,
            SHORT_REQUEST_MAX_OPTIONS,
            "build options",
        )?;
        pad_random(&mut out, SHORT_REQUEST_LEN, rng);
        let mut a = [0u8; SHORT_REQUEST_LEN];
        a.copy_from_slice(&out);
        Ok(a)
    }

    /// Parse a 464-byte long (ECIES) request cleartext.
    pub fn parse_long(buf: &[u8; LONG_REQUEST_LEN]) -> Result<(Self, LongRecordKeys), WireError> {
        let mut r = Reader::new(buf);
        let receive_tunnel = nonzero_tid(&mut r, "receive tunnel id")?;
        let next_tunnel = nonzero_tid(&mut r, "next tunnel id")?;
        let next_ident = r.array("next ident")?;
        let keys = LongRecordKeys {
            layer_key: r.array("layer key")?,
            iv_key: r.array("iv key")?,
            reply_key: r.array("reply key")?,
            reply_iv: r.array("reply iv")?,
        };
        let flags_off = r.offset();
        let flags = r.u8("build record flags")?;
        let role = role_from_flags(flags, flags_off)?;
        let more = r.array::<3>("build record more flags")?;
        let request_time_min = r.u32("request time")?;
        let expiration_s = r.u32("request expiration")?;
        let next_msg_id = r.u32("next message id")?;
        debug_assert_eq!(r.offset(), LONG_OPTIONS_OFFSET);
        let options = read_options(&mut r, LONG_REQUEST_MAX_OPTIONS)?;
        Ok((
            Self {
                receive_tunnel,
                next_tunnel,
                next_ident,
                role,
                reserved_flags: (u32::from(flags & 0x3f) << 24)
                    | (u32::from(more[0]) << 16)
                    | (u32::from(more[1]) << 8)
                    | u32::from(more[2]),
                layer_encryption: 0,
                request_time_min,
                expiration_s,
                next_msg_id,
                options,
            },
            keys,
        ))
    }

    /// Encode as a 464-byte long request cleartext with random padding.
    pub fn write_long(
        &self,
        keys: &LongRecordKeys,
        rng: &mut impl RngCore,
    ) -> Result<[u8; LONG_REQUEST_LEN], WireError> {
        let mut out = Vec::with_capacity(LONG_REQUEST_LEN);
        out.put_u32(self.receive_tunnel);
        out.put_u32(self.next_tunnel);
        out.put_bytes(&self.next_ident);
        out.put_bytes(&keys.layer_key);
        out.put_bytes(&keys.iv_key);
        out.put_bytes(&keys.reply_key);
        out.put_bytes(&keys.reply_iv);
        out.put_u8(self.role.flags() | ((self.reserved_flags >> 24) as u8 & 0x3f));
        out.put_bytes(&[
            (self.reserved_flags >> 16) as u8,
            (self.reserved_flags >> 8) as u8,
            self.reserved_flags as u8,
        ]);
        out.put_u32(self.request_time_min);
        out.put_u32(self.expiration_s);
        out.put_u32(self.next_msg_id);
        write_options(
            &mut out,
            &self.options,
            LONG_REQUEST_MAX_OPTIONS,
            "build options",
        )?;
        pad_random(&mut out, LONG_REQUEST_LEN, rng);
        let mut a = [0u8; LONG_REQUEST_LEN];
        a.copy_from_slice(&out);
        Ok(a)
    }

    /// A bandwidth option (`m`, `r`, `l`) in KBps, if present and a positive integer. Invalid
    /// values are ignored rather than failing the record: they are advisory.
    pub fn bandwidth_option(&self, key: &str) -> Option<u32> {
        self.options
            .get(key)
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|v| *v > 0)
    }
}

/// A reply record's content: options and the reply byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReply {
    pub options: Mapping,
    pub code: u8,
}

impl BuildReply {
    /// Encode into a reply cleartext of `LEN` bytes (202 short, 512 long): options, random
    /// padding, reply byte last.
    pub fn write<const LEN: usize>(&self, rng: &mut impl RngCore) -> Result<[u8; LEN], WireError> {
        let mut out = Vec::with_capacity(LEN);
        write_options(&mut out, &self.options, LEN - 1, "build reply options")?;
        pad_random(&mut out, LEN - 1, rng);
        out.put_u8(self.code);
        let mut a = [0u8; LEN];
        a.copy_from_slice(&out);
        Ok(a)
    }

    pub fn parse<const LEN: usize>(buf: &[u8; LEN]) -> Result<Self, WireError> {
        let mut r = Reader::new(&buf[..LEN - 1]);
        let options = Mapping::read(&mut r)?;
        Ok(Self {
            options,
            code: buf[LEN - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn sample() -> BuildRequest {
        BuildRequest {
            receive_tunnel: 0x0102_0304,
            next_tunnel: 0x0506_0708,
            next_ident: [9; 32],
            role: HopRole::OutboundEndpoint,
            reserved_flags: 0,
            layer_encryption: 0,
            request_time_min: 29_000_000,
            expiration_s: 600,
            next_msg_id: 0xdead_beef,
            options: Mapping::from_pairs([("m", "10"), ("r", "20")]).unwrap(),
        }
    }

    #[test]
    fn short_request_layout_and_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let req = sample();
        let b = req.write_short(&mut rng).unwrap();
        assert_eq!(&b[0..4], &[1, 2, 3, 4]);
        assert_eq!(&b[4..8], &[5, 6, 7, 8]);
        assert_eq!(b[40], 0x40, "OBEP flag bit 6");
        assert_eq!(&b[44..48], &29_000_000u32.to_be_bytes());
        assert_eq!(&b[48..52], &600u32.to_be_bytes());
        assert_eq!(&b[52..56], &0xdead_beefu32.to_be_bytes());
        assert_eq!(BuildRequest::parse_short(&b).unwrap(), req);
        assert_eq!(req.bandwidth_option("m"), Some(10));
        assert_eq!(req.bandwidth_option("l"), None);
    }

    #[test]
    fn long_request_layout_and_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let req = BuildRequest {
            role: HopRole::InboundGateway,
            ..sample()
        };
        let keys = LongRecordKeys {
            layer_key: [1; 32],
            iv_key: [2; 32],
            reply_key: [3; 32],
            reply_iv: [4; 16],
        };
        let b = req.write_long(&keys, &mut rng).unwrap();
        assert_eq!(&b[40..72], &[1; 32]);
        assert_eq!(&b[136..152], &[4; 16]);
        assert_eq!(b[152], 0x80);
        assert_eq!(&b[164..168], &0xdead_beefu32.to_be_bytes());
        let (back, k) = BuildRequest::parse_long(&b).unwrap();
        assert_eq!(back, req);
        assert_eq!(k.reply_key, [3; 32]);
    }

    #[test]
    fn invalid_fields_are_named() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut b = sample().write_short(&mut rng).unwrap();
        b[40] = 0xc0;
        let e = BuildRequest::parse_short(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("build record flags", 40));
        let mut b = sample().write_short(&mut rng).unwrap();
        b[4..8].fill(0);
        let e = BuildRequest::parse_short(&b).unwrap_err();
        assert_eq!((e.what, e.offset), ("next tunnel id", 4));
        // Options size beyond the record.
        let mut b = sample().write_short(&mut rng).unwrap();
        b[56..58].copy_from_slice(&200u16.to_be_bytes());
        let e = BuildRequest::parse_short(&b).unwrap_err();
        assert_eq!(e.what, "mapping content");
        // Options over the spec bound are refused on write.
        let big = Mapping::from_pairs([("x", "y".repeat(120))]).unwrap();
        let req = BuildRequest {
            options: big,
            ..sample()
        };
        assert!(req.write_short(&mut rng).is_err());
    }

    #[test]
    fn reply_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let r = BuildReply {
            options: Mapping::from_pairs([("b", "100")]).unwrap(),
            code: 30,
        };
        let b: [u8; SHORT_REPLY_LEN] = r.write(&mut rng).unwrap();
        assert_eq!(b[201], 30);
        assert_eq!(BuildReply::parse(&b).unwrap(), r);
        let b: [u8; LONG_REPLY_LEN] = r.write(&mut rng).unwrap();
        assert_eq!(BuildReply::parse(&b).unwrap(), r);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(v in proptest::collection::vec(proptest::prelude::any::<u8>(), 464)) {
            let mut s = [0u8; SHORT_REQUEST_LEN];
            s.copy_from_slice(&v[..SHORT_REQUEST_LEN]);
            let _ = BuildRequest::parse_short(&s);
            let mut l = [0u8; LONG_REQUEST_LEN];
            l.copy_from_slice(&v);
            let _ = BuildRequest::parse_long(&l);
            let mut r = [0u8; SHORT_REPLY_LEN];
            r.copy_from_slice(&v[..SHORT_REPLY_LEN]);
            let _ = BuildReply::parse(&r);
        }
    }
}

//! ECIES-X25519 garlic payloads: the block sequence inside every decrypted ECIES garlic message
//! (ecies.rst "Payload Section Decrypted data") and the ECIES Garlic Clove with its delivery
//! instructions (ecies.rst "Garlic Clove", i2np.rst "Garlic Clove Delivery Instructions").
//!
//! The same block format is used by New Session messages to a router (ecies-routers.rst, the
//! Noise "N" one-time messages), by Existing Session messages (lookup replies with a tag) and by
//! destinations' ratchet sessions; only the rules for which blocks may appear where differ, so
//! [`parse_payload`] takes a [`PayloadContext`].
//!
//! A clove carries its I2NP message in the 9-byte short header form (type, message id,
//! expiration in seconds) followed by the body; the clove size delimits the body. Bodies stay raw
//! bytes here: whoever delivers the clove parses (or forwards) them, exactly as if the message
//! had arrived over a transport.

use crate::wire::i2np::ShortHeader;
use crate::wire::{Reader, WireError, WireErrorKind, Writer};

/// Block type numbers (ecies.rst "Unencrypted data").
pub const BLOCK_DATETIME: u8 = 0;
pub const BLOCK_TERMINATION: u8 = 4;
pub const BLOCK_OPTIONS: u8 = 5;
pub const BLOCK_MESSAGE_NUMBER: u8 = 6;
pub const BLOCK_NEXT_KEY: u8 = 7;
pub const BLOCK_ACK: u8 = 8;
pub const BLOCK_ACK_REQUEST: u8 = 9;
pub const BLOCK_GARLIC_CLOVE: u8 = 11;
pub const BLOCK_PADDING: u8 = 254;

/// Largest decrypted payload: a 65535-byte ChaChaPoly frame minus its 16-byte tag.
pub const MAX_PAYLOAD_LEN: usize = 65519;
/// Largest data of a single block (the payload minus one 3-byte block header).
pub const MAX_BLOCK_DATA: usize = 65516;
/// Minimum size of an Options block (ecies.rst "Options": 21 bytes minimum).
pub const MIN_OPTIONS_LEN: usize = 21;

/// Delivery instruction flag bits (i2np.rst "Garlic Clove Delivery Instructions").
const FLAG_ENCRYPTED: u8 = 0x80;
const FLAG_DELAY: u8 = 0x10;
const DELIVERY_TYPE_SHIFT: u8 = 5;
const DELIVERY_TYPE_MASK: u8 = 0x03;

/// NextKey flag bit 0: a key follows.
pub const NEXT_KEY_PRESENT: u8 = 0x01;

/// Where a clove goes once unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryInstructions {
    /// Process the message locally (type 0).
    Local,
    /// Deliver to the local destination with this hash (type 1).
    Destination([u8; 32]),
    /// Send to the router with this hash (type 2).
    Router([u8; 32]),
    /// Send to inbound tunnel `tunnel_id` at gateway router `gateway` (type 3).
    Tunnel { gateway: [u8; 32], tunnel_id: u32 },
}

impl DeliveryInstructions {
    /// The 2-bit delivery type code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Local => 0,
            Self::Destination(_) => 1,
            Self::Router(_) => 2,
            Self::Tunnel { .. } => 3,
        }
    }

    /// Stable metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Destination(_) => "destination",
            Self::Router(_) => "router",
            Self::Tunnel { .. } => "tunnel",
        }
    }
}

/// One ECIES garlic clove: delivery instructions plus an I2NP message (short header + body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clove {
    pub delivery: DeliveryInstructions,
    /// The delay field (flag bit 4). The spec calls it "not fully implemented" and no router
    /// honours it; it is kept so a parsed clove re-encodes to the same bytes.
    pub delay: Option<u32>,
    pub header: ShortHeader,
    pub body: Vec<u8>,
}

impl Clove {
    /// Parse a clove block's data (everything after the block's type and size).
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let flag_offset = r.offset();
        let flag = r.u8("clove delivery flag")?;
        if flag & FLAG_ENCRYPTED != 0 {
            // Never implemented by any router; the 32-byte key it announces has no defined use.
            return Err(WireError::unsupported(
                "clove delivery flag",
                flag_offset,
                "encrypted delivery instructions",
            ));
        }
        // Bits 3-0 are reserved "set to 0 for compatibility": ignored on receipt so a future
        // use of them does not make us drop cloves.
        let delivery = match (flag >> DELIVERY_TYPE_SHIFT) & DELIVERY_TYPE_MASK {
            0 => DeliveryInstructions::Local,
            1 => DeliveryInstructions::Destination(r.array("clove destination hash")?),
            2 => DeliveryInstructions::Router(r.array("clove router hash")?),
            _ => {
                let gateway = r.array("clove gateway hash")?;
                let id_offset = r.offset();
                let tunnel_id = r.u32("clove tunnel id")?;
                if tunnel_id == 0 {
                    return Err(WireError::invalid(
                        "clove tunnel id",
                        id_offset,
                        "tunnel id must be nonzero",
                    ));
                }
                DeliveryInstructions::Tunnel { gateway, tunnel_id }
            }
        };
        let delay = if flag & FLAG_DELAY != 0 {
            Some(r.u32("clove delay")?)
        } else {
            None
        };
        let header = ShortHeader::parse(r)?;
        let body = r.rest().to_vec();
        Ok(Self {
            delivery,
            delay,
            header,
            body,
        })
    }

    /// Length of the clove block's data.
    pub fn encoded_len(&self) -> usize {
        let di = match self.delivery {
            DeliveryInstructions::Local => 1,
            DeliveryInstructions::Destination(_) | DeliveryInstructions::Router(_) => 33,
            DeliveryInstructions::Tunnel { .. } => 37,
        };
        let delay = if self.delay.is_some() { 4 } else { 0 };
        // Saturating: a body near usize::MAX is refused by the block size check anyway.
        (di + delay + ShortHeader::LEN).saturating_add(self.body.len())
    }

    /// Append the clove block's data (no block header).
    pub fn write_data(&self, out: &mut Vec<u8>) {
        let mut flag = self.delivery.code() << DELIVERY_TYPE_SHIFT;
        if self.delay.is_some() {
            flag |= FLAG_DELAY;
        }
        out.put_u8(flag);
        match &self.delivery {
            DeliveryInstructions::Local => {}
            DeliveryInstructions::Destination(h) | DeliveryInstructions::Router(h) => {
                out.put_bytes(h)
            }
            DeliveryInstructions::Tunnel { gateway, tunnel_id } => {
                out.put_bytes(gateway);
                out.put_u32(*tunnel_id);
            }
        }
        if let Some(d) = self.delay {
            out.put_u32(d);
        }
        self.header.write(out);
        out.put_bytes(&self.body);
    }
}

/// One acknowledged message of an ACK block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEntry {
    pub tag_set_id: u16,
    pub n: u16,
}

/// A payload block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Seconds since the epoch (type 0).
    DateTime(u32),
    /// Session termination with a reason and optional extra data (type 4).
    Termination { reason: u8, data: Vec<u8> },
    /// Session options (type 5): unimplemented by the spec ("for further study"), kept raw.
    Options(Vec<u8>),
    /// Previous tag set length PN (type 6).
    MessageNumber(u16),
    /// Next DH ratchet key (type 7).
    NextKey {
        flags: u8,
        key_id: u16,
        key: Option<[u8; 32]>,
    },
    /// Acknowledgements (type 8), at least one.
    Ack(Vec<AckEntry>),
    /// Ack request (type 9) with its flag byte.
    AckRequest(u8),
    /// A garlic clove (type 11).
    GarlicClove(Clove),
    /// Padding (type 254); must be last.
    Padding(Vec<u8>),
    /// A block type we do not know: receivers must ignore it ("treat them as padding").
    Unknown { block_type: u8, data: Vec<u8> },
}

impl Block {
    pub fn block_type(&self) -> u8 {
        match self {
            Self::DateTime(_) => BLOCK_DATETIME,
            Self::Termination { .. } => BLOCK_TERMINATION,
            Self::Options(_) => BLOCK_OPTIONS,
            Self::MessageNumber(_) => BLOCK_MESSAGE_NUMBER,
            Self::NextKey { .. } => BLOCK_NEXT_KEY,
            Self::Ack(_) => BLOCK_ACK,
            Self::AckRequest(_) => BLOCK_ACK_REQUEST,
            Self::GarlicClove(_) => BLOCK_GARLIC_CLOVE,
            Self::Padding(_) => BLOCK_PADDING,
            Self::Unknown { block_type, .. } => *block_type,
        }
    }

    /// Append the block (type, size, data). Fails when the data does not fit one block, or the
    /// block's own fields are inconsistent (a NextKey whose flag disagrees with its key, an empty
    /// ACK, a short Options block, an Unknown block reusing a known type number).
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        out.put_u8(self.block_type());
        out.put_u16(0); // size, patched below
        let data_start = out.len();
        match self {
            Self::DateTime(ts) => out.put_u32(*ts),
            Self::Termination { reason, data } => {
                out.put_u8(*reason);
                out.put_bytes(data);
            }
            Self::Options(data) => {
                if data.len() < MIN_OPTIONS_LEN {
                    out.truncate(start);
                    return Err(WireError::invalid(
                        "Options block",
                        start,
                        format!("{} bytes, minimum {MIN_OPTIONS_LEN}", data.len()),
                    ));
                }
                out.put_bytes(data)
            }
            Self::MessageNumber(pn) => out.put_u16(*pn),
            Self::NextKey { flags, key_id, key } => {
                if (flags & NEXT_KEY_PRESENT != 0) != key.is_some() {
                    out.truncate(start);
                    return Err(WireError::invalid(
                        "NextKey block",
                        start,
                        "key-present flag disagrees with the key",
                    ));
                }
                out.put_u8(*flags);
                out.put_u16(*key_id);
                if let Some(k) = key {
                    out.put_bytes(k);
                }
            }
            Self::Ack(acks) => {
                if acks.is_empty() {
                    out.truncate(start);
                    return Err(WireError::invalid("ACK block", start, "no acks"));
                }
                for a in acks {
                    out.put_u16(a.tag_set_id);
                    out.put_u16(a.n);
                }
            }
            Self::AckRequest(flags) => out.put_u8(*flags),
            Self::GarlicClove(c) => c.write_data(out),
            Self::Padding(p) => out.put_bytes(p),
            Self::Unknown { block_type, data } => {
                if is_known(*block_type) {
                    out.truncate(start);
                    return Err(WireError::invalid(
                        "block type",
                        start,
                        format!("unknown block uses known type {block_type}"),
                    ));
                }
                out.put_bytes(data)
            }
        }
        let len = out.len() - data_start;
        if len > MAX_BLOCK_DATA {
            out.truncate(start);
            return Err(WireError::new(
                "block size",
                start + 1,
                WireErrorKind::TooLong {
                    len,
                    max: MAX_BLOCK_DATA,
                },
            ));
        }
        out[start + 1..start + 3].copy_from_slice(&(len as u16).to_be_bytes());
        Ok(())
    }
}

fn is_known(t: u8) -> bool {
    matches!(
        t,
        BLOCK_DATETIME
            | BLOCK_TERMINATION
            | BLOCK_OPTIONS
            | BLOCK_MESSAGE_NUMBER
            | BLOCK_NEXT_KEY
            | BLOCK_ACK
            | BLOCK_ACK_REQUEST
            | BLOCK_GARLIC_CLOVE
            | BLOCK_PADDING
    )
}

/// Which message the payload came in; the block ordering rules differ (ecies.rst "Block
/// Ordering Rules").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadContext {
    /// New Session, including the router "N" one-time messages: DateTime first and required;
    /// only Garlic Clove, Options and Padding may follow.
    NewSession,
    /// New Session Reply: no required blocks; only Garlic Clove, Options and Padding.
    NewSessionReply,
    /// Existing Session: any blocks; Termination last except for Padding.
    ExistingSession,
}

impl PayloadContext {
    fn allows(self, block_type: u8) -> bool {
        match self {
            Self::NewSession => matches!(
                block_type,
                BLOCK_DATETIME | BLOCK_GARLIC_CLOVE | BLOCK_OPTIONS | BLOCK_PADDING
            ),
            Self::NewSessionReply => matches!(
                block_type,
                BLOCK_GARLIC_CLOVE | BLOCK_OPTIONS | BLOCK_PADDING
            ),
            Self::ExistingSession => true,
        }
    }
}

fn exact_size(
    what: &'static str,
    offset: usize,
    size: usize,
    expect: usize,
) -> Result<(), WireError> {
    if size != expect {
        return Err(WireError::invalid(
            what,
            offset,
            format!("size {size}, expected {expect}"),
        ));
    }
    Ok(())
}

/// Parse one block's data. `size_offset` is the absolute offset of the block's size field.
fn parse_block(block_type: u8, size_offset: usize, r: &mut Reader<'_>) -> Result<Block, WireError> {
    let size = r.remaining();
    let block = match block_type {
        BLOCK_DATETIME => {
            exact_size("DateTime block size", size_offset, size, 4)?;
            Block::DateTime(r.u32("DateTime timestamp")?)
        }
        BLOCK_TERMINATION => Block::Termination {
            reason: r.u8("Termination reason")?,
            data: r.rest().to_vec(),
        },
        BLOCK_OPTIONS => {
            if size < MIN_OPTIONS_LEN {
                return Err(WireError::invalid(
                    "Options block size",
                    size_offset,
                    format!("size {size}, minimum {MIN_OPTIONS_LEN}"),
                ));
            }
            Block::Options(r.rest().to_vec())
        }
        BLOCK_MESSAGE_NUMBER => {
            exact_size("MessageNumber block size", size_offset, size, 2)?;
            Block::MessageNumber(r.u16("MessageNumber PN")?)
        }
        BLOCK_NEXT_KEY => {
            let flags_offset = r.offset();
            let flags = r.u8("NextKey flags")?;
            let key_id = r.u16("NextKey key id")?;
            let expect = if flags & NEXT_KEY_PRESENT != 0 { 35 } else { 3 };
            if size != expect {
                return Err(WireError::invalid(
                    "NextKey block size",
                    flags_offset,
                    format!("size {size} with flags {flags:#04x}, expected {expect}"),
                ));
            }
            let key = if flags & NEXT_KEY_PRESENT != 0 {
                Some(r.array("NextKey public key")?)
            } else {
                None
            };
            Block::NextKey { flags, key_id, key }
        }
        BLOCK_ACK => {
            if size == 0 || !size.is_multiple_of(4) {
                return Err(WireError::invalid(
                    "ACK block size",
                    size_offset,
                    format!("size {size} is not a positive multiple of 4"),
                ));
            }
            let mut acks = Vec::with_capacity(size / 4);
            while !r.is_empty() {
                acks.push(AckEntry {
                    tag_set_id: r.u16("ACK tag set id")?,
                    n: r.u16("ACK message number")?,
                });
            }
            Block::Ack(acks)
        }
        BLOCK_ACK_REQUEST => {
            exact_size("ACK Request block size", size_offset, size, 1)?;
            Block::AckRequest(r.u8("ACK Request flags")?)
        }
        BLOCK_GARLIC_CLOVE => Block::GarlicClove(Clove::parse(r)?),
        BLOCK_PADDING => Block::Padding(r.rest().to_vec()),
        other => Block::Unknown {
            block_type: other,
            data: r.rest().to_vec(),
        },
    };
    r.finish("block data")?;
    Ok(block)
}

/// Parse a decrypted payload into its blocks, enforcing the ordering rules of `ctx`.
///
/// Every block is read through a sub-reader bounded by its size field, so a malformed block can
/// never read into the next one. Offsets in errors are relative to the start of `payload`.
pub fn parse_payload(payload: &[u8], ctx: PayloadContext) -> Result<Vec<Block>, WireError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(WireError::new(
            "payload",
            0,
            WireErrorKind::TooLong {
                len: payload.len(),
                max: MAX_PAYLOAD_LEN,
            },
        ));
    }
    let mut r = Reader::new(payload);
    let mut blocks = Vec::new();
    let mut terminated = false;
    while !r.is_empty() {
        let type_offset = r.offset();
        let block_type = r.u8("block type")?;
        if blocks
            .last()
            .is_some_and(|b| matches!(b, Block::Padding(_)))
        {
            return Err(WireError::invalid(
                "block type",
                type_offset,
                "block after Padding (Padding must be last)",
            ));
        }
        if terminated && block_type != BLOCK_PADDING {
            return Err(WireError::invalid(
                "block type",
                type_offset,
                format!("block {block_type} after Termination"),
            ));
        }
        if blocks.is_empty() && ctx == PayloadContext::NewSession && block_type != BLOCK_DATETIME {
            return Err(WireError::invalid(
                "block type",
                type_offset,
                format!("first block is {block_type}, New Session requires DateTime first"),
            ));
        }
        // Unknown types are allowed everywhere ("treat them as padding"); known types outside
        // their message kind are a protocol violation.
        if is_known(block_type) && !ctx.allows(block_type) {
            return Err(WireError::invalid(
                "block type",
                type_offset,
                format!("block {block_type} not allowed in {ctx:?} message"),
            ));
        }
        if ctx == PayloadContext::NewSession && block_type == BLOCK_DATETIME && !blocks.is_empty() {
            return Err(WireError::invalid(
                "block type",
                type_offset,
                "second DateTime block",
            ));
        }
        let size_offset = r.offset();
        let size = usize::from(r.u16("block size")?);
        let mut data = r.sub(size, "block data")?;
        let block = parse_block(block_type, size_offset, &mut data)?;
        terminated |= block_type == BLOCK_TERMINATION;
        blocks.push(block);
    }
    if ctx == PayloadContext::NewSession && blocks.is_empty() {
        return Err(WireError::invalid(
            "payload",
            0,
            "empty New Session payload (DateTime block required)",
        ));
    }
    Ok(blocks)
}

/// Serialize blocks into a payload. Fails if a block does not encode or the payload exceeds the
/// maximum a single ChaChaPoly frame can carry. Ordering rules are the caller's business (they
/// are checked on parse), so tests can build deliberately wrong payloads.
pub fn write_payload(blocks: &[Block]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    for b in blocks {
        b.write(&mut out)?;
    }
    if out.len() > MAX_PAYLOAD_LEN {
        return Err(WireError::new(
            "payload",
            0,
            WireErrorKind::TooLong {
                len: out.len(),
                max: MAX_PAYLOAD_LEN,
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clove(delivery: DeliveryInstructions, delay: Option<u32>) -> Clove {
        Clove {
            delivery,
            delay,
            header: ShortHeader {
                msg_type: 1,
                msg_id: 0xdead_beef,
                expiration_s: 1_700_000_000,
            },
            body: vec![9, 8, 7, 6],
        }
    }

    /// A clove written from the spec layout by hand, not by the encoder.
    #[test]
    fn tunnel_clove_matches_spec_layout() {
        let mut wire = vec![BLOCK_GARLIC_CLOVE, 0, 37 + 9 + 4];
        wire.push(0x60); // delivery type 3 << 5
        wire.extend_from_slice(&[0xaa; 32]);
        wire.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        wire.push(2); // DatabaseLookup
        wire.extend_from_slice(&7u32.to_be_bytes());
        wire.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        wire.extend_from_slice(&[1, 2, 3, 4]);
        let blocks = parse_payload(&wire, PayloadContext::ExistingSession).unwrap();
        let expect = Block::GarlicClove(Clove {
            delivery: DeliveryInstructions::Tunnel {
                gateway: [0xaa; 32],
                tunnel_id: 0x0102_0304,
            },
            delay: None,
            header: ShortHeader {
                msg_type: 2,
                msg_id: 7,
                expiration_s: 1_700_000_000,
            },
            body: vec![1, 2, 3, 4],
        });
        assert_eq!(blocks, vec![expect.clone()]);
        assert_eq!(write_payload(&[expect]).unwrap(), wire);
    }

    #[test]
    fn every_block_round_trips() {
        let blocks = vec![
            Block::DateTime(1_700_000_123),
            Block::GarlicClove(clove(DeliveryInstructions::Local, None)),
            Block::GarlicClove(clove(DeliveryInstructions::Router([1; 32]), Some(5))),
            Block::GarlicClove(clove(DeliveryInstructions::Destination([2; 32]), None)),
            Block::GarlicClove(clove(
                DeliveryInstructions::Tunnel {
                    gateway: [3; 32],
                    tunnel_id: 42,
                },
                None,
            )),
            Block::Options(vec![0; 21]),
            Block::MessageNumber(77),
            Block::NextKey {
                flags: NEXT_KEY_PRESENT,
                key_id: 3,
                key: Some([4; 32]),
            },
            Block::NextKey {
                flags: 0x04,
                key_id: 4,
                key: None,
            },
            Block::Ack(vec![
                AckEntry {
                    tag_set_id: 1,
                    n: 2,
                },
                AckEntry {
                    tag_set_id: 3,
                    n: 4,
                },
            ]),
            Block::AckRequest(0),
            Block::Unknown {
                block_type: 200,
                data: vec![1, 2],
            },
            Block::Termination {
                reason: 1,
                data: b"bye".to_vec(),
            },
            Block::Padding(vec![0; 15]),
        ];
        let wire = write_payload(&blocks).unwrap();
        assert_eq!(
            parse_payload(&wire, PayloadContext::ExistingSession).unwrap(),
            blocks
        );
        // The DateTime block is the 7 bytes the spec shows.
        assert_eq!(&wire[..7], &[0, 0, 4, 0x65, 0x53, 0xf1, 0x7b]);
    }

    #[test]
    fn new_session_rules() {
        let dt = Block::DateTime(5);
        let c = Block::GarlicClove(clove(DeliveryInstructions::Local, None));
        let ok = write_payload(&[dt.clone(), c.clone(), Block::Padding(vec![])]).unwrap();
        assert_eq!(
            parse_payload(&ok, PayloadContext::NewSession)
                .unwrap()
                .len(),
            3
        );

        let no_dt = write_payload(std::slice::from_ref(&c)).unwrap();
        let e = parse_payload(&no_dt, PayloadContext::NewSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("block type", 0));
        let e = parse_payload(&[], PayloadContext::NewSession).unwrap_err();
        assert_eq!(e.what, "payload");

        let ack = write_payload(&[dt.clone(), Block::AckRequest(0)]).unwrap();
        let e = parse_payload(&ack, PayloadContext::NewSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("block type", 7));
        assert!(parse_payload(&ack, PayloadContext::ExistingSession).is_ok());

        let two_dt = write_payload(&[dt.clone(), dt.clone()]).unwrap();
        assert!(parse_payload(&two_dt, PayloadContext::NewSession).is_err());

        // Unknown block types are ignored, not rejected.
        let unk = write_payload(&[
            dt,
            Block::Unknown {
                block_type: 224,
                data: vec![],
            },
            c,
        ])
        .unwrap();
        assert_eq!(
            parse_payload(&unk, PayloadContext::NewSession)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn padding_and_termination_must_be_last() {
        let pad_then_dt = write_payload(&[Block::Padding(vec![1]), Block::DateTime(1)]).unwrap();
        let e = parse_payload(&pad_then_dt, PayloadContext::ExistingSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("block type", 4));
        let term = Block::Termination {
            reason: 0,
            data: vec![],
        };
        let term_then_ack = write_payload(&[term.clone(), Block::AckRequest(0)]).unwrap();
        let e = parse_payload(&term_then_ack, PayloadContext::ExistingSession).unwrap_err();
        assert_eq!(e.offset, 4);
        let term_then_pad = write_payload(&[term, Block::Padding(vec![0; 3])]).unwrap();
        assert!(parse_payload(&term_then_pad, PayloadContext::ExistingSession).is_ok());
    }

    #[test]
    fn malformed_blocks_name_field_and_offset() {
        // Block size beyond the payload.
        let e = parse_payload(&[0, 0, 9, 1, 2], PayloadContext::ExistingSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("block data", 3));
        assert!(matches!(
            e.kind,
            WireErrorKind::Truncated { need: 9, have: 2 }
        ));
        // DateTime of the wrong size.
        let e = parse_payload(&[0, 0, 3, 1, 2, 3], PayloadContext::NewSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("DateTime block size", 1));
        // Clove too short for its delivery instructions: the error stays inside the block.
        let mut p = vec![0, 0, 4, 0, 0, 0, 1];
        p.extend_from_slice(&[11, 0, 10, 0x40]);
        p.extend_from_slice(&[0; 9]);
        p.extend_from_slice(&[254, 0, 40]);
        p.extend_from_slice(&[0; 40]);
        let e = parse_payload(&p, PayloadContext::NewSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("clove router hash", 11));
        // Encrypted delivery instructions are unsupported.
        let mut p = vec![11, 0, 10, 0x80];
        p.extend_from_slice(&[0; 9]);
        let e = parse_payload(&p, PayloadContext::ExistingSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("clove delivery flag", 3));
        assert!(matches!(e.kind, WireErrorKind::Unsupported(_)));
        // Tunnel id zero.
        let mut p = vec![11, 0, 46, 0x60];
        p.extend_from_slice(&[0; 45]);
        let e = parse_payload(&p, PayloadContext::ExistingSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("clove tunnel id", 36));
        // NextKey size disagreeing with its flag.
        let e = parse_payload(&[7, 0, 3, 1, 0, 0], PayloadContext::ExistingSession).unwrap_err();
        assert_eq!((e.what, e.offset), ("NextKey block size", 3));
        // ACK of 3 bytes.
        let e = parse_payload(&[8, 0, 3, 0, 0, 0], PayloadContext::ExistingSession).unwrap_err();
        assert_eq!(e.what, "ACK block size");
        // A header that fits but a clove shorter than a short I2NP header.
        let e = parse_payload(&[11, 0, 2, 0, 1], PayloadContext::ExistingSession).unwrap_err();
        assert!(matches!(e.kind, WireErrorKind::Truncated { .. }));
    }

    #[test]
    fn encoder_refuses_what_cannot_be_expressed() {
        let mut big = clove(DeliveryInstructions::Local, None);
        big.body = vec![0; MAX_BLOCK_DATA];
        let e = write_payload(&[Block::GarlicClove(big)]).unwrap_err();
        assert!(matches!(e.kind, WireErrorKind::TooLong { .. }));
        assert!(write_payload(&[Block::Ack(vec![])]).is_err());
        assert!(write_payload(&[Block::Options(vec![0; 3])]).is_err());
        assert!(
            write_payload(&[Block::NextKey {
                flags: 1,
                key_id: 0,
                key: None
            }])
            .is_err()
        );
        assert!(
            write_payload(&[Block::Unknown {
                block_type: 0,
                data: vec![]
            }])
            .is_err()
        );
        // Many blocks together may exceed one frame.
        let pad = Block::Padding(vec![0; 40_000]);
        let e = write_payload(&[pad.clone(), pad]).unwrap_err();
        assert_eq!(e.what, "payload");
    }

    fn arb_delivery() -> impl Strategy<Value = DeliveryInstructions> {
        prop_oneof![
            Just(DeliveryInstructions::Local),
            any::<[u8; 32]>().prop_map(DeliveryInstructions::Destination),
            any::<[u8; 32]>().prop_map(DeliveryInstructions::Router),
            (any::<[u8; 32]>(), 1u32..).prop_map(|(gateway, tunnel_id)| {
                DeliveryInstructions::Tunnel { gateway, tunnel_id }
            }),
        ]
    }

    fn arb_clove() -> impl Strategy<Value = Clove> {
        (
            arb_delivery(),
            proptest::option::of(any::<u32>()),
            any::<(u8, u32, u32)>(),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(delivery, delay, (t, id, exp), body)| Clove {
                delivery,
                delay,
                header: ShortHeader {
                    msg_type: t,
                    msg_id: id,
                    expiration_s: exp,
                },
                body,
            })
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            for ctx in [PayloadContext::NewSession, PayloadContext::NewSessionReply, PayloadContext::ExistingSession] {
                if let Ok(blocks) = parse_payload(&data, ctx) {
                    // Whatever parses re-encodes to the same bytes, except for ignored reserved
                    // flag bits, which the encoder writes as zero.
                    let again = write_payload(&blocks).unwrap();
                    prop_assert_eq!(parse_payload(&again, ctx).unwrap(), blocks);
                }
            }
        }

        #[test]
        fn new_session_payloads_round_trip(
            ts in any::<u32>(),
            cloves in proptest::collection::vec(arb_clove(), 0..4),
            pad in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
        ) {
            let mut blocks = vec![Block::DateTime(ts)];
            blocks.extend(cloves.into_iter().map(Block::GarlicClove));
            if let Some(p) = pad {
                blocks.push(Block::Padding(p));
            }
            let wire = write_payload(&blocks).unwrap();
            prop_assert_eq!(parse_payload(&wire, PayloadContext::NewSession).unwrap(), blocks);
        }
    }
}

//! Tunnel message preprocessing (tunnel-message.rst): delivery instructions, packing I2NP
//! messages into 1024-byte tunnel payloads (IV, checksum, nonzero padding, zero byte,
//! instruction/fragment pairs), parsing them back, and reassembling fragments with bounds.
//!
//! Used by the inbound gateway (packing), the outbound endpoint (parsing + reassembly) and the
//! creator side (an outbound gateway packs, an inbound endpoint reassembles).

use std::borrow::Cow;
use std::collections::HashMap;

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{RouterHash, TUNNEL_PAYLOAD_LEN, TunnelId};
use crate::wire::{Reader, WireError, Writer};

/// Bytes available for instructions and fragments in one tunnel message: 1008 minus the
/// 4-byte checksum and the zero byte.
pub const CONTENT_MAX: usize = 1003;
/// Follow-on fragment instructions: flag, message id, size.
pub const FOLLOW_ON_DI_LEN: usize = 7;
/// Largest follow-on fragment.
pub const FOLLOW_ON_MAX: usize = CONTENT_MAX - FOLLOW_ON_DI_LEN;
/// Fragment numbers are 6 bits: the first fragment is 0, follow-ons 1..=63.
pub const MAX_FRAGMENT_NUMBER: u8 = 63;
/// The largest I2NP message a standard header can describe (16-byte header + 65535 body).
pub const MAX_I2NP_MESSAGE: usize = 16 + 65535;

/// Where the endpoint should deliver a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// To the endpoint itself (inbound tunnels: the creator).
    Local,
    /// Into a tunnel: a TunnelGateway message for `tunnel_id` sent to `gateway`.
    Tunnel {
        tunnel_id: TunnelId,
        gateway: RouterHash,
    },
    /// Directly to a router.
    Router(RouterHash),
}

impl Delivery {
    fn type_bits(&self) -> u8 {
        match self {
            Self::Local => 0,
            Self::Tunnel { .. } => 1,
            Self::Router(_) => 2,
        }
    }

    /// First-fragment instruction length (flag + target + optional msg id + size).
    pub fn first_di_len(&self, fragmented: bool) -> usize {
        let target = match self {
            Self::Local => 0,
            Self::Tunnel { .. } => 36,
            Self::Router(_) => 32,
        };
        1 + target + if fragmented { 4 } else { 0 } + 2
    }
}

/// Parsed delivery instructions of one fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instructions {
    First {
        delivery: Delivery,
        /// Present when the message is fragmented.
        msg_id: Option<u32>,
        size: u16,
    },
    FollowOn {
        msg_id: u32,
        /// 1..=63.
        number: u8,
        last: bool,
        size: u16,
    },
}

impl Instructions {
    pub fn size(&self) -> usize {
        match self {
            Self::First { size, .. } | Self::FollowOn { size, .. } => usize::from(*size),
        }
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let off = r.offset();
        let flag = r.u8("delivery instructions flag")?;
        if flag & 0x80 != 0 {
            let msg_id = r.u32("follow-on message id")?;
            let number = (flag >> 1) & 0x3f;
            if number == 0 {
                return Err(WireError::invalid(
                    "follow-on fragment number",
                    off,
                    "fragment number 0 in a follow-on fragment",
                ));
            }
            let size = r.u16("fragment size")?;
            return Ok(Self::FollowOn {
                msg_id,
                number,
                last: flag & 1 != 0,
                size,
            });
        }
        let delivery = match (flag >> 5) & 3 {
            0 => Delivery::Local,
            1 => {
                let off = r.offset();
                let tunnel_id = r.u32("delivery tunnel id")?;
                if tunnel_id == 0 {
                    return Err(WireError::invalid(
                        "delivery tunnel id",
                        off,
                        "tunnel id must be nonzero",
                    ));
                }
                Delivery::Tunnel {
                    tunnel_id,
                    gateway: r.array("delivery gateway hash")?,
                }
            }
            2 => Delivery::Router(r.array("delivery router hash")?),
            _ => {
                return Err(WireError::invalid(
                    "delivery type",
                    off,
                    "delivery type 3 is invalid",
                ));
            }
        };
        if flag & 0x10 != 0 {
            // The delay byte is "unimplemented, never present": skip it if a sender sets it.
            r.u8("delivery delay")?;
        }
        let msg_id = if flag & 0x08 != 0 {
            Some(r.u32("fragment message id")?)
        } else {
            None
        };
        if flag & 0x04 != 0 {
            let len = r.u8("extended options length")?;
            r.bytes(usize::from(len), "extended options")?;
        }
        let size = r.u16("fragment size")?;
        Ok(Self::First {
            delivery,
            msg_id,
            size,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Self::First {
                delivery,
                msg_id,
                size,
            } => {
                let mut flag = delivery.type_bits() << 5;
                if msg_id.is_some() {
                    flag |= 0x08;
                }
                out.put_u8(flag);
                match delivery {
                    Delivery::Local => {}
                    Delivery::Tunnel { tunnel_id, gateway } => {
                        out.put_u32(tunnel_id);
                        out.put_bytes(&gateway);
                    }
                    Delivery::Router(h) => out.put_bytes(&h),
                }
                if let Some(id) = msg_id {
                    out.put_u32(id);
                }
                out.put_u16(size);
            }
            Self::FollowOn {
                msg_id,
                number,
                last,
                size,
            } => {
                out.put_u8(0x80 | ((number & 0x3f) << 1) | u8::from(last));
                out.put_u32(msg_id);
                out.put_u16(size);
            }
        }
    }
}

/// One fragment of a parsed tunnel message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub instructions: Instructions,
    pub data: &'a [u8],
}

/// Why a decrypted tunnel message is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelMessageError {
    #[error("no zero byte after the padding")]
    NoZeroByte,
    #[error("checksum mismatch")]
    Checksum,
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Check the checksum of a decrypted 1024-byte payload (IV || 1008) and return the content
/// after the zero byte. Offsets in later errors are relative to `payload`.
pub fn tunnel_message_content(
    payload: &[u8; TUNNEL_PAYLOAD_LEN],
) -> Result<(usize, &[u8]), TunnelMessageError> {
    let zero = payload[20..]
        .iter()
        .position(|b| *b == 0)
        .ok_or(TunnelMessageError::NoZeroByte)?
        + 20;
    let start = zero + 1;
    let content = &payload[start..];
    let mut h = Sha256::new();
    h.update(content);
    h.update(&payload[..16]);
    let digest = h.finalize();
    if digest[..4] != payload[16..20] {
        return Err(TunnelMessageError::Checksum);
    }
    Ok((start, content))
}

/// Iterate the instruction/fragment pairs of a decrypted tunnel payload.
pub fn fragments(payload: &[u8; TUNNEL_PAYLOAD_LEN]) -> Result<Fragments<'_>, TunnelMessageError> {
    let (start, content) = tunnel_message_content(payload)?;
    Ok(Fragments {
        r: Reader::with_base(content, start),
        failed: false,
    })
}

pub struct Fragments<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Iterator for Fragments<'a> {
    type Item = Result<Fragment<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let res = Instructions::read(&mut self.r).and_then(|instructions| {
            if instructions.size() == 0 {
                return Err(self.r.invalid("fragment size", "zero-length fragment"));
            }
            let data = self.r.bytes(instructions.size(), "fragment data")?;
            Ok(Fragment { instructions, data })
        });
        if res.is_err() {
            self.failed = true;
        }
        Some(res)
    }
}

/// Packs messages into tunnel payloads. Consecutive messages share tunnel messages, which is
/// what makes an inbound gateway efficient for small messages (acks, lookups).
pub struct Packer {
    content: Vec<u8>,
}

/// A message too large to be carried in 64 fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message of {0} bytes does not fit 64 tunnel fragments")]
pub struct TooLarge(pub usize);

impl Default for Packer {
    fn default() -> Self {
        Self::new()
    }
}

impl Packer {
    pub fn new() -> Self {
        Self {
            content: Vec::with_capacity(CONTENT_MAX),
        }
    }

    fn room(&self) -> usize {
        CONTENT_MAX - self.content.len()
    }

    /// Whether anything is waiting to be emitted.
    pub fn is_empty(&self) -> bool {
        self.content.is_empty()
    }

    /// The most bytes a message can have if its first fragment starts in an empty payload.
    pub fn max_message_len(delivery: &Delivery) -> usize {
        (CONTENT_MAX - delivery.first_di_len(true))
            + usize::from(MAX_FRAGMENT_NUMBER) * FOLLOW_ON_MAX
    }

    /// Add one message; every tunnel payload that fills up is handed to `emit` (preprocessed,
    /// not yet layer-encrypted). `msg_id` identifies the fragments if the message is split.
    pub fn push(
        &mut self,
        delivery: Delivery,
        msg: &[u8],
        msg_id: u32,
        rng: &mut impl RngCore,
        emit: &mut impl FnMut(&mut [u8; TUNNEL_PAYLOAD_LEN]),
    ) -> Result<(), TooLarge> {
        if msg.is_empty() || msg.len() > Self::max_message_len(&delivery) {
            return Err(TooLarge(msg.len()));
        }
        let whole = delivery.first_di_len(false) + msg.len();
        if whole <= self.room() {
            Instructions::First {
                delivery,
                msg_id: None,
                size: msg.len() as u16,
            }
            .write(&mut self.content);
            self.content.extend_from_slice(msg);
            return Ok(());
        }
        // Start a fresh payload rather than split a message that would fit one unfragmented,
        // or when the current payload has too little room to be worth a first fragment (or
        // would push the message past 64 fragments).
        let first_di = delivery.first_di_len(true);
        let fits_alone = whole <= CONTENT_MAX;
        let worth_splitting = self.room() >= first_di + 64;
        let fits_from_here = self.room() > first_di
            && msg.len()
                <= (self.room() - first_di) + usize::from(MAX_FRAGMENT_NUMBER) * FOLLOW_ON_MAX;
        if !self.is_empty() && (fits_alone || !worth_splitting || !fits_from_here) {
            self.flush(rng, emit);
        }
        if whole <= self.room() {
            Instructions::First {
                delivery,
                msg_id: None,
                size: msg.len() as u16,
            }
            .write(&mut self.content);
            self.content.extend_from_slice(msg);
            return Ok(());
        }
        let first_len = self.room() - first_di;
        Instructions::First {
            delivery,
            msg_id: Some(msg_id),
            size: first_len as u16,
        }
        .write(&mut self.content);
        self.content.extend_from_slice(&msg[..first_len]);
        let mut rest = &msg[first_len..];
        let mut number = 1u8;
        while !rest.is_empty() {
            self.flush(rng, emit);
            let n = rest.len().min(FOLLOW_ON_MAX);
            Instructions::FollowOn {
                msg_id,
                number,
                last: n == rest.len(),
                size: n as u16,
            }
            .write(&mut self.content);
            self.content.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            number += 1;
        }
        Ok(())
    }

    /// Emit the partially filled payload, if any: random IV, checksum, nonzero padding, zero.
    pub fn flush(
        &mut self,
        rng: &mut impl RngCore,
        emit: &mut impl FnMut(&mut [u8; TUNNEL_PAYLOAD_LEN]),
    ) {
        if self.content.is_empty() {
            return;
        }
        let mut p = [0u8; TUNNEL_PAYLOAD_LEN];
        write_payload(&mut p, &self.content, rng);
        self.content.clear();
        emit(&mut p);
    }
}

/// Lay out a preprocessed payload around `content` (at most [`CONTENT_MAX`] bytes).
pub fn write_payload(p: &mut [u8; TUNNEL_PAYLOAD_LEN], content: &[u8], rng: &mut impl RngCore) {
    let c = content.len().min(CONTENT_MAX);
    let content = &content[..c];
    rng.fill_bytes(&mut p[..16]);
    let pad = CONTENT_MAX - c;
    let pad_region = &mut p[20..20 + pad];
    rng.fill_bytes(pad_region);
    for b in pad_region.iter_mut() {
        if *b == 0 {
            // Nonzero is all the spec asks; a tiny bias towards 1 does not matter.
            *b = 1;
        }
    }
    p[20 + pad] = 0;
    p[21 + pad..].copy_from_slice(content);
    let mut h = Sha256::new();
    h.update(content);
    h.update(&p[..16]);
    let d = h.finalize();
    p[16..20].copy_from_slice(&d[..4]);
}

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Largest reassembled message.
    pub max_message: usize,
    /// Most messages in reassembly at once in one tunnel.
    pub max_pending: usize,
    /// How long a partial message is kept.
    pub timeout_ms: u64,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        Self {
            max_message: MAX_I2NP_MESSAGE,
            max_pending: 32,
            timeout_ms: 30_000,
        }
    }
}

/// Bytes held in partial messages across many reassemblers (one budget per shard), so that
/// thousands of endpoint tunnels cannot together hold unbounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyBudget {
    pub used: usize,
    pub max: usize,
}

impl ReassemblyBudget {
    pub fn new(max: usize) -> Self {
        Self { used: 0, max }
    }
}

/// Why a fragment (and possibly its whole message) was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReassemblyDrop {
    /// A fragment number already received.
    DuplicateFragment,
    /// A fragment beyond the announced last one, or a second "last".
    BadFragmentNumber,
    /// The message would exceed the maximum size.
    TooLarge,
    /// Too many partial messages in this tunnel or too many bytes in the shard.
    TooManyPending,
}

impl ReassemblyDrop {
    pub fn label(self) -> &'static str {
        match self {
            Self::DuplicateFragment => "duplicate_fragment",
            Self::BadFragmentNumber => "bad_fragment_number",
            Self::TooLarge => "message_too_large",
            Self::TooManyPending => "reassembly_full",
        }
    }
}

#[derive(Debug)]
struct Partial {
    delivery: Option<Delivery>,
    /// Index = fragment number.
    parts: Vec<Option<Box<[u8]>>>,
    received: usize,
    last: Option<u8>,
    bytes: usize,
    started_ms: u64,
}

/// A complete message and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete<'a> {
    pub delivery: Delivery,
    /// The I2NP message with its standard 16-byte header, as the gateway packed it.
    pub message: Cow<'a, [u8]>,
}

/// Per-tunnel fragment reassembly keyed by message id.
#[derive(Debug, Default)]
pub struct Reassembler {
    pending: HashMap<u32, Partial>,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Take one fragment. Returns the message when it is complete.
    pub fn push<'a>(
        &mut self,
        frag: Fragment<'a>,
        now_ms: u64,
        limits: &ReassemblyLimits,
        budget: &mut ReassemblyBudget,
    ) -> Result<Option<Complete<'a>>, ReassemblyDrop> {
        let (msg_id, number, last, delivery) = match frag.instructions {
            Instructions::First {
                delivery,
                msg_id: None,
                ..
            } => {
                if frag.data.len() > limits.max_message {
                    return Err(ReassemblyDrop::TooLarge);
                }
                return Ok(Some(Complete {
                    delivery,
                    message: Cow::Borrowed(frag.data),
                }));
            }
            Instructions::First {
                delivery,
                msg_id: Some(id),
                ..
            } => (id, 0u8, false, Some(delivery)),
            Instructions::FollowOn {
                msg_id,
                number,
                last,
                ..
            } => (msg_id, number, last, None),
        };
        if number > MAX_FRAGMENT_NUMBER {
            return Err(ReassemblyDrop::BadFragmentNumber);
        }
        if !self.pending.contains_key(&msg_id) {
            if self.pending.len() >= limits.max_pending {
                return Err(ReassemblyDrop::TooManyPending);
            }
            self.pending.insert(
                msg_id,
                Partial {
                    delivery: None,
                    parts: Vec::new(),
                    received: 0,
                    last: None,
                    bytes: 0,
                    started_ms: now_ms,
                },
            );
        }
        let Some(p) = self.pending.get_mut(&msg_id) else {
            return Err(ReassemblyDrop::TooManyPending);
        };
        let idx = usize::from(number);
        let bad_number = match (p.last, last) {
            (Some(l), _) if number > l => true,
            (Some(_), true) => true,
            (None, true) => {
                p.parts.len() > idx + 1 && p.parts[idx + 1..].iter().any(|x| x.is_some())
            }
            _ => false,
        };
        if bad_number {
            self.discard(msg_id, budget);
            return Err(ReassemblyDrop::BadFragmentNumber);
        }
        if p.parts.get(idx).is_some_and(|x| x.is_some()) {
            return Err(ReassemblyDrop::DuplicateFragment);
        }
        let new_bytes = p.bytes.saturating_add(frag.data.len());
        if new_bytes > limits.max_message {
            self.discard(msg_id, budget);
            return Err(ReassemblyDrop::TooLarge);
        }
        if budget.used.saturating_add(frag.data.len()) > budget.max {
            self.discard(msg_id, budget);
            return Err(ReassemblyDrop::TooManyPending);
        }
        if p.parts.len() <= idx {
            p.parts.resize_with(idx + 1, || None);
        }
        p.parts[idx] = Some(frag.data.into());
        p.received += 1;
        p.bytes = new_bytes;
        budget.used += frag.data.len();
        if last {
            p.last = Some(number);
        }
        if let Some(d) = delivery {
            p.delivery = Some(d);
        }
        let done =
            matches!((p.last, p.delivery), (Some(l), Some(_)) if p.received == usize::from(l) + 1);
        if !done {
            return Ok(None);
        }
        let Some(p) = self.pending.remove(&msg_id) else {
            return Ok(None);
        };
        budget.used = budget.used.saturating_sub(p.bytes);
        let mut message = Vec::with_capacity(p.bytes);
        for part in p.parts.iter().flatten() {
            message.extend_from_slice(part);
        }
        Ok(p.delivery.map(|delivery| Complete {
            delivery,
            message: Cow::Owned(message),
        }))
    }

    fn discard(&mut self, msg_id: u32, budget: &mut ReassemblyBudget) {
        if let Some(p) = self.pending.remove(&msg_id) {
            budget.used = budget.used.saturating_sub(p.bytes);
        }
    }

    /// Drop partial messages older than the timeout; returns how many were dropped.
    pub fn expire(
        &mut self,
        now_ms: u64,
        limits: &ReassemblyLimits,
        budget: &mut ReassemblyBudget,
    ) -> usize {
        let before = self.pending.len();
        self.pending.retain(|_, p| {
            let keep = now_ms.saturating_sub(p.started_ms) < limits.timeout_ms;
            if !keep {
                budget.used = budget.used.saturating_sub(p.bytes);
            }
            keep
        });
        before - self.pending.len()
    }

    /// Release everything (tunnel removed).
    pub fn clear(&mut self, budget: &mut ReassemblyBudget) {
        for p in self.pending.values() {
            budget.used = budget.used.saturating_sub(p.bytes);
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn instructions_round_trip_and_lengths() {
        let cases = [
            Instructions::First {
                delivery: Delivery::Local,
                msg_id: None,
                size: 5,
            },
            Instructions::First {
                delivery: Delivery::Router([3; 32]),
                msg_id: Some(9),
                size: 900,
            },
            Instructions::First {
                delivery: Delivery::Tunnel {
                    tunnel_id: 77,
                    gateway: [4; 32],
                },
                msg_id: None,
                size: 1,
            },
            Instructions::FollowOn {
                msg_id: 9,
                number: 63,
                last: true,
                size: 996,
            },
        ];
        let lens = [3, 39, 39, 7];
        for (c, l) in cases.iter().zip(lens) {
            let mut v = Vec::new();
            c.write(&mut v);
            assert_eq!(v.len(), l, "{c:?}");
            let mut r = Reader::new(&v);
            assert_eq!(Instructions::read(&mut r).unwrap(), *c);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn invalid_instructions_are_errors() {
        let e = Instructions::read(&mut Reader::new(&[0x60, 0, 1])).unwrap_err();
        assert_eq!(e.what, "delivery type");
        let e = Instructions::read(&mut Reader::new(&[0x80, 0, 0, 0, 1, 0, 1])).unwrap_err();
        assert_eq!(e.what, "follow-on fragment number");
        let e = Instructions::read(&mut Reader::new(&[0x20, 0, 0, 0, 0])).unwrap_err();
        assert_eq!(e.what, "delivery tunnel id");
    }

    fn pack_all(msgs: &[(Delivery, Vec<u8>)]) -> Vec<[u8; TUNNEL_PAYLOAD_LEN]> {
        let mut out = Vec::new();
        let mut p = Packer::new();
        let mut r = rng();
        for (i, (d, m)) in msgs.iter().enumerate() {
            p.push(*d, m, 1000 + i as u32, &mut r, &mut |x| out.push(*x))
                .unwrap();
        }
        p.flush(&mut r, &mut |x| out.push(*x));
        out
    }

    #[test]
    fn small_messages_share_a_tunnel_message() {
        let msgs = vec![
            (Delivery::Local, vec![1u8; 100]),
            (Delivery::Router([2; 32]), vec![2u8; 200]),
            (Delivery::Local, vec![3u8; 300]),
        ];
        let out = pack_all(&msgs);
        assert_eq!(out.len(), 1);
        let frags: Vec<_> = fragments(&out[0]).unwrap().map(|f| f.unwrap()).collect();
        assert_eq!(frags.len(), 3);
        assert_eq!(frags[1].data, &[2u8; 200][..]);
        // Padding is nonzero and ends with the single zero byte.
        let (start, _) = tunnel_message_content(&out[0]).unwrap();
        assert!(out[0][20..start - 1].iter().all(|b| *b != 0));
        assert_eq!(out[0][start - 1], 0);
    }

    #[test]
    fn checksum_and_zero_byte_are_checked() {
        let out = pack_all(&[(Delivery::Local, vec![5u8; 10])]);
        let mut bad = out[0];
        bad[1023] ^= 1;
        assert!(matches!(fragments(&bad), Err(TunnelMessageError::Checksum)));
        let mut bad = out[0];
        bad[0] ^= 1; // the IV is covered too
        assert!(matches!(fragments(&bad), Err(TunnelMessageError::Checksum)));
        let mut none = [1u8; TUNNEL_PAYLOAD_LEN];
        none[..20].fill(0);
        assert!(matches!(
            fragments(&none),
            Err(TunnelMessageError::NoZeroByte)
        ));
    }

    #[test]
    fn largest_message_uses_64_fragments_and_one_more_byte_is_refused() {
        let d = Delivery::Tunnel {
            tunnel_id: 5,
            gateway: [1; 32],
        };
        let max = Packer::max_message_len(&d);
        // 1003 - 43 bytes of first-fragment instructions, then 63 follow-ons (the spec's
        // "approximately 956 + 62 * 996" is a conservative estimate of the same bound).
        assert_eq!(max, 960 + 63 * 996);
        let out = pack_all(&[(d, vec![9u8; max])]);
        assert_eq!(out.len(), 64);
        let mut p = Packer::new();
        assert_eq!(
            p.push(d, &vec![0u8; max + 1], 1, &mut rng(), &mut |_| {}),
            Err(TooLarge(max + 1))
        );
    }

    #[test]
    fn reassembly_limits() {
        let limits = ReassemblyLimits {
            max_message: 2000,
            max_pending: 2,
            timeout_ms: 1000,
        };
        let mut budget = ReassemblyBudget::new(10_000);
        let mut r = Reassembler::new();
        let first = |id| Fragment {
            instructions: Instructions::First {
                delivery: Delivery::Local,
                msg_id: Some(id),
                size: 10,
            },
            data: &[1u8; 10],
        };
        let follow = |id, n, last| Fragment {
            instructions: Instructions::FollowOn {
                msg_id: id,
                number: n,
                last,
                size: 10,
            },
            data: &[2u8; 10],
        };
        assert_eq!(r.push(first(1), 0, &limits, &mut budget), Ok(None));
        assert_eq!(
            r.push(first(1), 0, &limits, &mut budget),
            Err(ReassemblyDrop::DuplicateFragment)
        );
        assert_eq!(r.push(first(2), 0, &limits, &mut budget), Ok(None));
        assert_eq!(
            r.push(first(3), 0, &limits, &mut budget),
            Err(ReassemblyDrop::TooManyPending)
        );
        assert_eq!(budget.used, 20);
        // Last fragment 2 announced, then fragment 3 is bad: the message is discarded.
        assert_eq!(
            r.push(follow(2, 2, true), 0, &limits, &mut budget),
            Ok(None)
        );
        assert_eq!(
            r.push(follow(2, 3, false), 0, &limits, &mut budget),
            Err(ReassemblyDrop::BadFragmentNumber)
        );
        assert_eq!(r.pending(), 1);
        assert_eq!(budget.used, 10);
        // Completion in any order.
        assert_eq!(
            r.push(follow(1, 2, true), 0, &limits, &mut budget),
            Ok(None)
        );
        let c = r
            .push(follow(1, 1, false), 0, &limits, &mut budget)
            .unwrap()
            .unwrap();
        assert_eq!(c.message.len(), 30);
        assert_eq!(&c.message[..10], &[1u8; 10]);
        assert_eq!(budget.used, 0);
        // Timeout.
        assert_eq!(r.push(first(4), 0, &limits, &mut budget), Ok(None));
        assert_eq!(r.expire(999, &limits, &mut budget), 0);
        assert_eq!(r.expire(1000, &limits, &mut budget), 1);
        assert_eq!(budget.used, 0);
        // The shard budget bounds bytes across tunnels.
        let mut small = ReassemblyBudget::new(15);
        assert_eq!(r.push(first(5), 0, &limits, &mut small), Ok(None));
        assert_eq!(
            r.push(follow(5, 1, true), 0, &limits, &mut small),
            Err(ReassemblyDrop::TooManyPending)
        );
        assert_eq!(small.used, 0);
    }
}

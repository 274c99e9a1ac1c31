//! The two I2NP header forms (i2np.rst "I2NP message header").
//!
//! The 16-byte standard header carries its own size and a 1-byte truncated SHA-256 checksum and
//! is used wherever an I2NP message is embedded in another structure (TunnelGateway, tunnel
//! fragments, ElGamal garlic cloves). NTCP2 and SSU2 frame messages themselves and authenticate
//! them with AEAD, so they use the 9-byte short header without size or checksum.

use sha2::{Digest, Sha256};

use crate::wire::{Reader, WireError, WireErrorKind, Writer};

/// The 1-byte checksum of the standard header: the first byte of SHA-256 over the body.
pub fn checksum(body: &[u8]) -> u8 {
    Sha256::digest(body)[0]
}

/// Standard 16-byte header: type, msg_id, expiration (Date, ms), size, checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StandardHeader {
    pub msg_type: u8,
    pub msg_id: u32,
    /// Milliseconds since the epoch (an I2P `Date`).
    pub expiration_ms: u64,
    /// Length of the body that follows.
    pub size: u16,
    /// First byte of SHA-256(body).
    pub checksum: u8,
}

impl StandardHeader {
    pub const LEN: usize = 16;

    /// Read the 16 header bytes. The type code is not interpreted here so that callers which
    /// only route or count messages can do so without knowing every type.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            msg_type: r.u8("i2np type")?,
            msg_id: r.u32("i2np msg_id")?,
            expiration_ms: r.u64("i2np expiration")?,
            size: r.u16("i2np size")?,
            checksum: r.u8("i2np checksum")?,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.msg_type);
        out.put_u32(self.msg_id);
        out.put_u64(self.expiration_ms);
        out.put_u16(self.size);
        out.put_u8(self.checksum);
    }

    /// The header for `body`, with size and checksum computed from it. Fails when the body does
    /// not fit the 2-byte size field; the error offset is 0 because no output exists yet.
    pub fn for_body(
        msg_type: u8,
        msg_id: u32,
        expiration_ms: u64,
        body: &[u8],
    ) -> Result<Self, WireError> {
        let size = u16::try_from(body.len()).map_err(|_| {
            WireError::new(
                "i2np size",
                0,
                WireErrorKind::TooLong {
                    len: body.len(),
                    max: u16::MAX as usize,
                },
            )
        })?;
        Ok(Self {
            msg_type,
            msg_id,
            expiration_ms,
            size,
            checksum: checksum(body),
        })
    }

    /// Check the checksum against `body`. `checksum_offset` is the absolute offset of the
    /// checksum byte, reported on mismatch.
    pub fn verify_checksum(&self, body: &[u8], checksum_offset: usize) -> Result<(), WireError> {
        let actual = checksum(body);
        if actual != self.checksum {
            return Err(WireError::invalid(
                "i2np checksum",
                checksum_offset,
                format!(
                    "header says {:#04x}, body hashes to {actual:#04x}",
                    self.checksum
                ),
            ));
        }
        Ok(())
    }

    /// The short header for the same message. Seconds are truncated (as i2pd does); the cast
    /// to u32 wraps on 2106-02-07, which is exactly the wrap-around the spec describes for the
    /// unsigned short expiration.
    pub fn to_short(&self) -> ShortHeader {
        ShortHeader {
            msg_type: self.msg_type,
            msg_id: self.msg_id,
            expiration_s: (self.expiration_ms / 1000) as u32,
        }
    }
}

/// Short 9-byte header (NTCP2, SSU2, ECIES garlic cloves): type, msg_id, expiration (seconds).
/// Size and integrity come from the enclosing frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortHeader {
    pub msg_type: u8,
    pub msg_id: u32,
    /// Seconds since the epoch, unsigned 32-bit.
    pub expiration_s: u32,
}

impl ShortHeader {
    pub const LEN: usize = 9;

    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            msg_type: r.u8("i2np type")?,
            msg_id: r.u32("i2np msg_id")?,
            expiration_s: r.u32("i2np short expiration")?,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.msg_type);
        out.put_u32(self.msg_id);
        out.put_u32(self.expiration_s);
    }

    /// Expiration as an I2P `Date` in milliseconds (cannot overflow: u32 * 1000 < 2^42).
    pub fn expiration_ms(&self) -> u64 {
        u64::from(self.expiration_s) * 1000
    }

    /// The standard header for this message carrying `body` (size and checksum computed).
    pub fn to_standard(&self, body: &[u8]) -> Result<StandardHeader, WireError> {
        StandardHeader::for_body(self.msg_type, self.msg_id, self.expiration_ms(), body)
    }
}

//! Small fixed or length-prefixed bodies: DeliveryStatus (10), Garlic (11), Data (20).

use super::encode_len;
use crate::wire::{Reader, WireError, Writer};

/// DeliveryStatus (type 10): acknowledges `msg_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryStatus {
    pub msg_id: u32,
    /// Creation/arrival time in ms (an I2P `Date`); some uses put other values here (SSU put the
    /// network id), so it is not interpreted.
    pub timestamp: u64,
}

impl DeliveryStatus {
    pub const LEN: usize = 12;

    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            msg_id: r.u32("DeliveryStatus msg_id")?,
            timestamp: r.u64("DeliveryStatus timestamp")?,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.put_u32(self.msg_id);
        out.put_u64(self.timestamp);
        Ok(())
    }
}

/// Read a 4-byte length and that many bytes; the length is bounded by what is left.
fn read_u32_prefixed<'a>(
    r: &mut Reader<'a>,
    len_what: &'static str,
    data_what: &'static str,
) -> Result<&'a [u8], WireError> {
    let len = r.u32(len_what)?;
    // On 16-bit targets a u32 may not fit usize; treat that as "more than we have".
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    r.bytes(len, data_what)
}

fn write_u32_prefixed(
    out: &mut Vec<u8>,
    len_what: &'static str,
    data: &[u8],
) -> Result<(), WireError> {
    encode_len(len_what, out, data.len(), u32::MAX as usize)?;
    out.put_u32(data.len() as u32);
    out.put_bytes(data);
    Ok(())
}

/// Garlic (type 11): a 4-byte length and the encrypted garlic (ElGamal/AES or ECIES-ratchet),
/// opaque here; decryption and clove parsing belong to the garlic layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garlic {
    pub data: Vec<u8>,
}

impl Garlic {
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let data = read_u32_prefixed(r, "Garlic length", "Garlic data")?;
        Ok(Self {
            data: data.to_vec(),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        write_u32_prefixed(out, "Garlic length", &self.data)
    }
}

/// Data (type 20): a 4-byte length and opaque payload (client data inside garlic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    pub data: Vec<u8>,
}

impl Data {
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let data = read_u32_prefixed(r, "Data length", "Data payload")?;
        Ok(Self {
            data: data.to_vec(),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        write_u32_prefixed(out, "Data length", &self.data)
    }
}

//! Tunnel messages: TunnelData (18), TunnelGateway (19) and the build messages (21-26).
//! Build records are opaque fixed-size arrays here; record encryption is handled elsewhere.

use super::{I2npMessage, RawMessage, check_count, encode_len, read_arrays};
use crate::wire::{Reader, WireError, Writer};

/// Encrypted BuildRequestRecord / BuildResponseRecord size (ElGamal and ECIES "long" records).
pub const BUILD_RECORD_LEN: usize = 528;
/// Encrypted ShortBuildRequestRecord / ShortBuildResponseRecord size (tunnel-creation-ecies).
pub const SHORT_BUILD_RECORD_LEN: usize = 218;
/// Record count bound of the variable and short build messages ("Valid values: 1-8"), and the
/// fixed count of TunnelBuild / TunnelBuildReply.
pub const MAX_BUILD_RECORDS: usize = 8;
/// Fixed payload of a TunnelData message.
pub const TUNNEL_DATA_LEN: usize = 1024;

pub type BuildRecord = [u8; BUILD_RECORD_LEN];
pub type ShortBuildRecord = [u8; SHORT_BUILD_RECORD_LEN];

/// Read a tunnel id that the spec requires to be nonzero.
fn nonzero_tunnel_id(r: &mut Reader<'_>, what: &'static str) -> Result<u32, WireError> {
    let off = r.offset();
    let tid = r.u32(what)?;
    if tid == 0 {
        return Err(WireError::invalid(what, off, "tunnel id must be nonzero"));
    }
    Ok(tid)
}

fn write_nonzero_tunnel_id(
    out: &mut Vec<u8>,
    what: &'static str,
    tid: u32,
) -> Result<(), WireError> {
    if tid == 0 {
        return Err(WireError::invalid(
            what,
            out.len(),
            "tunnel id must be nonzero",
        ));
    }
    out.put_u32(tid);
    Ok(())
}

/// TunnelData (type 18): tunnel id and 1024 bytes of encrypted tunnel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelData {
    pub tunnel_id: u32,
    /// Boxed so that [`super::I2npBody`] stays small.
    pub data: Box<[u8; TUNNEL_DATA_LEN]>,
}

impl TunnelData {
    pub const LEN: usize = 4 + TUNNEL_DATA_LEN;

    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let tunnel_id = nonzero_tunnel_id(r, "TunnelData tunnel id")?;
        let data = Box::new(r.array::<TUNNEL_DATA_LEN>("TunnelData data")?);
        Ok(Self { tunnel_id, data })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        write_nonzero_tunnel_id(out, "TunnelData tunnel id", self.tunnel_id)?;
        out.put_bytes(&self.data[..]);
        Ok(())
    }
}

/// TunnelGateway (type 19): a standard-header I2NP message to inject into an inbound tunnel.
/// The embedded message is kept as raw bytes: a gateway forwards it, it does not need to
/// understand it. Use [`TunnelGateway::embedded`] to look inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelGateway {
    pub tunnel_id: u32,
    /// The embedded message with its standard 16-byte header (at most 65535 bytes).
    pub data: Vec<u8>,
}

impl TunnelGateway {
    /// Offset of `data` inside the TunnelGateway body (tunnel id + length).
    pub const DATA_OFFSET: usize = 6;

    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let tunnel_id = nonzero_tunnel_id(r, "TunnelGateway tunnel id")?;
        let len = r.u16("TunnelGateway length")?;
        let data = r.bytes(usize::from(len), "TunnelGateway data")?;
        Ok(Self {
            tunnel_id,
            data: data.to_vec(),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        write_nonzero_tunnel_id(out, "TunnelGateway tunnel id", self.tunnel_id)?;
        encode_len(
            "TunnelGateway length",
            out,
            self.data.len(),
            u16::MAX as usize,
        )?;
        out.put_u16(self.data.len() as u16);
        out.put_bytes(&self.data);
        Ok(())
    }

    /// Wrap `msg` (encoded with the standard header) for delivery into `tunnel_id`.
    pub fn wrap(tunnel_id: u32, msg: &I2npMessage) -> Result<Self, WireError> {
        Ok(Self {
            tunnel_id,
            data: msg.to_standard_bytes()?,
        })
    }

    /// The embedded message's header and raw body (checksum verified, exactly one message).
    /// Error offsets are relative to `data`; shift them with [`WireError::at_base`] using the
    /// body offset of this TunnelGateway plus [`Self::DATA_OFFSET`] if needed.
    pub fn embedded(&self) -> Result<RawMessage<'_>, WireError> {
        RawMessage::parse_standard(&self.data)
    }

    /// The embedded message fully parsed (offsets as for [`Self::embedded`]).
    pub fn embedded_message(&self) -> Result<I2npMessage, WireError> {
        self.embedded()?.into_message()
    }
}

/// TunnelBuild (21) and TunnelBuildReply (22): exactly eight 528-byte records, no count byte.
macro_rules! fixed_build_message {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// Boxed: 4224 bytes would otherwise dominate the size of every message value.
            pub records: Box<[BuildRecord; MAX_BUILD_RECORDS]>,
        }

        impl $name {
            pub const LEN: usize = MAX_BUILD_RECORDS * BUILD_RECORD_LEN;

            pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
                let mut records = Box::new([[0u8; BUILD_RECORD_LEN]; MAX_BUILD_RECORDS]);
                for rec in records.iter_mut() {
                    *rec = r.array($what)?;
                }
                Ok(Self { records })
            }

            pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
                for rec in self.records.iter() {
                    out.put_bytes(rec);
                }
                Ok(())
            }
        }
    };
}

fixed_build_message!(
    /// TunnelBuild (type 21): eight BuildRequestRecords.
    TunnelBuild,
    "TunnelBuild records"
);
fixed_build_message!(
    /// TunnelBuildReply (type 22): eight BuildResponseRecords.
    TunnelBuildReply,
    "TunnelBuildReply records"
);

/// The count-prefixed build messages: a 1-byte record count (1-8) and that many records.
macro_rules! variable_build_message {
    ($(#[$doc:meta])* $name:ident, $len:expr, $count_what:literal, $records_what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// 1 to [`MAX_BUILD_RECORDS`] records.
            pub records: Vec<[u8; $len]>,
        }

        impl $name {
            pub const RECORD_LEN: usize = $len;

            pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
                let off = r.offset();
                let n = usize::from(r.u8($count_what)?);
                check_count($count_what, off, n, 1, MAX_BUILD_RECORDS)?;
                let records = read_arrays::<$len>(r, n, $records_what)?;
                Ok(Self { records })
            }

            pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
                let off = out.len();
                check_count($count_what, off, self.records.len(), 1, MAX_BUILD_RECORDS)?;
                out.put_u8(self.records.len() as u8);
                for rec in &self.records {
                    out.put_bytes(rec);
                }
                Ok(())
            }
        }
    };
}

variable_build_message!(
    /// VariableTunnelBuild (type 23): 1-8 BuildRequestRecords of 528 bytes.
    VariableTunnelBuild,
    BUILD_RECORD_LEN,
    "VariableTunnelBuild record count",
    "VariableTunnelBuild records"
);
variable_build_message!(
    /// VariableTunnelBuildReply (type 24): 1-8 BuildResponseRecords of 528 bytes.
    VariableTunnelBuildReply,
    BUILD_RECORD_LEN,
    "VariableTunnelBuildReply record count",
    "VariableTunnelBuildReply records"
);
variable_build_message!(
    /// ShortTunnelBuild (type 25): 1-8 ShortBuildRequestRecords of 218 bytes.
    ShortTunnelBuild,
    SHORT_BUILD_RECORD_LEN,
    "ShortTunnelBuild record count",
    "ShortTunnelBuild records"
);
variable_build_message!(
    /// OutboundTunnelBuildReply (type 26): 1-8 ShortBuildResponseRecords of 218 bytes.
    OutboundTunnelBuildReply,
    SHORT_BUILD_RECORD_LEN,
    "OutboundTunnelBuildReply record count",
    "OutboundTunnelBuildReply records"
);

//! RouterAddress (common-structures "RouterAddress"): cost, expiration Date, transport style
//! String, options Mapping.

use super::date::Date;
use super::mapping::Mapping;
use super::{Reader, WireError, WireErrorKind, Writer, base64};
use std::net::IpAddr;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouterAddress {
    cost: u8,
    expiration: Date,
    transport: String,
    options: Mapping,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouterAddressError {
    #[error("transport style {0:?} is longer than 255 bytes")]
    TransportTooLong(String),
}

impl RouterAddress {
    /// Build an address. The expiration must be [`Date::UNDEFINED`] for addresses we publish:
    /// the spec says routers MUST set it to zero because older peers fail the RouterInfo
    /// signature otherwise; it is a parameter only so parsed addresses can be rebuilt.
    pub fn new(
        cost: u8,
        expiration: Date,
        transport: impl Into<String>,
        options: Mapping,
    ) -> Result<Self, RouterAddressError> {
        let transport = transport.into();
        if transport.len() > 255 {
            return Err(RouterAddressError::TransportTooLong(transport));
        }
        Ok(Self {
            cost,
            expiration,
            transport,
            options,
        })
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let cost = r.u8("router address cost")?;
        let expiration = Date::read(r, "router address expiration")?;
        let t_off = r.offset();
        let t_len = usize::from(r.u8("router address transport style")?);
        let t_bytes = r.bytes(t_len, "router address transport style")?;
        let transport = String::from_utf8(t_bytes.to_vec()).map_err(|e| {
            WireError::new(
                "router address transport style",
                t_off,
                WireErrorKind::Invalid(format!("not UTF-8: {e}")),
            )
        })?;
        let options = Mapping::read(r)?;
        Ok(Self {
            cost,
            expiration,
            transport,
            options,
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let a = Self::read(&mut r)?;
        r.finish("router address")?;
        Ok(a)
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.cost);
        self.expiration.write(out);
        // `new` and `read` bound the transport to 255 bytes.
        out.put_u8(u8::try_from(self.transport.len()).unwrap_or(u8::MAX));
        out.put_bytes(self.transport.as_bytes());
        self.options.write(out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    pub fn cost(&self) -> u8 {
        self.cost
    }
    pub fn expiration(&self) -> Date {
        self.expiration
    }
    /// Transport style, e.g. "NTCP2" or "SSU2".
    pub fn transport(&self) -> &str {
        &self.transport
    }
    pub fn options(&self) -> &Mapping {
        &self.options
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key)
    }
    /// The "host" option as written (IPv4/IPv6 literal; host names are deprecated, prop. 141).
    pub fn host(&self) -> Option<&str> {
        self.options.get("host")
    }
    /// The "host" option if it is an IP address literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host()?.parse().ok()
    }
    pub fn port(&self) -> Option<u16> {
        self.options.get("port")?.parse().ok()
    }
    /// Address capabilities ("caps" option, e.g. "4", "6", "BC"); empty when absent.
    pub fn caps(&self) -> &str {
        self.options.get("caps").unwrap_or("")
    }
    /// The transport's static X25519 key ("s" option, I2P base64, 32 bytes) for NTCP2/SSU2.
    pub fn static_key(&self) -> Option<[u8; 32]> {
        base64::decode(self.options.get("s")?).ok()?.try_into().ok()
    }
    /// The "i" option decoded: the 16-byte AES obfuscation IV for NTCP2, the 32-byte intro
    /// key for SSU2.
    pub fn i_param(&self) -> Option<Vec<u8>> {
        base64::decode(self.options.get("i")?).ok()
    }
    /// The transport protocol version option ("v"), e.g. "2".
    pub fn version(&self) -> Option<&str> {
        self.options.get("v")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RouterAddress {
        let s = base64::encode(&[7u8; 32]);
        let i = base64::encode(&[9u8; 16]);
        let opts = Mapping::from_pairs([
            ("host", "198.18.0.9"),
            ("port", "13134"),
            ("s", s.as_str()),
            ("i", i.as_str()),
            ("v", "2"),
        ])
        .unwrap();
        RouterAddress::new(3, Date::UNDEFINED, "NTCP2", opts).unwrap()
    }

    #[test]
    fn accessors_and_round_trip() {
        let a = sample();
        let bytes = a.to_bytes();
        assert_eq!(bytes[0], 3);
        assert_eq!(&bytes[1..9], &[0; 8]);
        assert_eq!(&bytes[9..15], b"\x05NTCP2");
        let p = RouterAddress::parse(&bytes).unwrap();
        assert_eq!(p, a);
        assert_eq!(p.to_bytes(), bytes);
        assert_eq!(p.transport(), "NTCP2");
        assert_eq!(p.ip(), Some("198.18.0.9".parse().unwrap()));
        assert_eq!(p.port(), Some(13134));
        assert_eq!(p.static_key(), Some([7u8; 32]));
        assert_eq!(p.i_param(), Some(vec![9u8; 16]));
        assert_eq!(p.version(), Some("2"));
        assert_eq!(p.caps(), "");
    }

    #[test]
    fn malformed() {
        let bytes = sample().to_bytes();
        let e = RouterAddress::parse(&bytes[..12]).unwrap_err();
        assert_eq!((e.what, e.offset), ("router address transport style", 10));
        let mut bad = bytes.clone();
        bad[10] = 0xff;
        let e = RouterAddress::parse(&bad).unwrap_err();
        assert_eq!((e.what, e.offset), ("router address transport style", 9));
        let mut trailing = bytes.clone();
        trailing.push(0);
        let e = RouterAddress::parse(&trailing).unwrap_err();
        assert_eq!((e.what, e.offset), ("router address", bytes.len()));
    }
}

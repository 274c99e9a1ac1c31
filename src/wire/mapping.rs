//! Mapping (common-structures "Mapping"): a 2-byte size, then `key=value;` pairs where key and
//! value are 1-byte-length-prefixed UTF-8 strings.
//!
//! Parsed mappings keep their wire order, so re-serializing gives back the exact signed bytes
//! even if the sender did not sort. Mappings we build are sorted by key the way the spec
//! defines it (Java `String.compareTo`, i.e. by UTF-16 code units), because every Mapping in a
//! RouterInfo, RouterAddress or LeaseSet2 is signed and peers expect sorted keys.

use super::error::WireErrorKind;
use super::{Reader, WireError, Writer};
use std::cmp::Ordering;
use std::collections::HashSet;
use thiserror::Error;

/// Largest key or value: the length prefix is one byte.
pub const MAX_STRING_LEN: usize = 255;
/// Largest content after the size field: the size is two bytes.
pub const MAX_MAPPING_LEN: usize = u16::MAX as usize;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    #[error("string {0:?} is longer than 255 bytes")]
    StringTooLong(String),
    #[error("mapping content is {0} bytes, more than 65535")]
    TooLong(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Mapping {
    entries: Vec<(String, String)>,
}

/// Order keys as Java's `String.compareTo` does (UTF-16 code units), which is the order the
/// spec mandates. It equals byte order for ASCII and the BMP, and differs only for characters
/// outside the BMP relative to U+E000..U+FFFF.
pub fn java_string_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

impl Mapping {
    pub fn new() -> Self {
        Self::default()
    }

    /// Build a mapping sorted by key, as signed structures require. Duplicate keys and strings
    /// that do not fit the wire format are rejected.
    pub fn from_pairs<K, V, I>(pairs: I) -> Result<Self, MappingError>
    where
        K: Into<String>,
        V: Into<String>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut entries: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        entries.sort_by(|a, b| java_string_cmp(&a.0, &b.0));
        for w in entries.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(MappingError::DuplicateKey(w[0].0.clone()));
            }
        }
        let mut total = 0usize;
        for (k, v) in &entries {
            for s in [k, v] {
                if s.len() > MAX_STRING_LEN {
                    return Err(MappingError::StringTooLong(s.clone()));
                }
            }
            // 1 length byte + key, '=', 1 length byte + value, ';'
            total = total.saturating_add(k.len() + v.len() + 4);
        }
        if total > MAX_MAPPING_LEN {
            return Err(MappingError::TooLong(total));
        }
        Ok(Self { entries })
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let size = usize::from(r.u16("mapping size")?);
        let mut m = r.sub(size, "mapping content")?;
        let mut entries: Vec<(String, String)> = Vec::new();
        // A HashSet keeps the duplicate check linear: a 64 KiB mapping can hold ~16k entries,
        // and a quadratic scan over those would be a cheap way to burn our CPU.
        let mut seen: HashSet<String> = HashSet::new();
        while !m.is_empty() {
            let key_off = m.offset();
            let key = read_string(&mut m, "mapping key")?;
            expect_byte(&mut m, b'=', "mapping '='")?;
            let value = read_string(&mut m, "mapping value")?;
            expect_byte(&mut m, b';', "mapping ';'")?;
            // Mappings in signed structures must not contain duplicates (spec); accepting them
            // would make `get` ambiguous.
            if !seen.insert(key.clone()) {
                return Err(WireError::invalid(
                    "mapping key",
                    key_off,
                    format!("duplicate key {key:?}"),
                ));
            }
            entries.push((key, value));
        }
        Ok(Self { entries })
    }

    /// Parse exactly one mapping (size field included) from `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let m = Self::read(&mut r)?;
        r.finish("mapping")?;
        Ok(m)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Entries in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether keys are in the spec's order; parsed mappings from other routers may not be.
    pub fn is_sorted(&self) -> bool {
        self.entries
            .windows(2)
            .all(|w| java_string_cmp(&w[0].0, &w[1].0) == Ordering::Less)
    }

    fn content_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum()
    }

    /// Serialized length including the 2-byte size.
    pub fn wire_len(&self) -> usize {
        2 + self.content_len()
    }

    /// Append the wire form. Both constructors (`read`, `from_pairs`) guarantee the content
    /// fits the 2-byte size and 1-byte string lengths, so the casts below cannot truncate.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u16(u16::try_from(self.content_len()).unwrap_or(u16::MAX));
        for (k, v) in &self.entries {
            out.put_u8(u8::try_from(k.len()).unwrap_or(u8::MAX));
            out.put_bytes(k.as_bytes());
            out.put_u8(b'=');
            out.put_u8(u8::try_from(v.len()).unwrap_or(u8::MAX));
            out.put_bytes(v.as_bytes());
            out.put_u8(b';');
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.wire_len());
        self.write(&mut v);
        v
    }
}

fn read_string(r: &mut Reader<'_>, what: &'static str) -> Result<String, WireError> {
    let off = r.offset();
    let len = usize::from(r.u8(what)?);
    let bytes = r.bytes(len, what)?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| WireError::new(what, off, WireErrorKind::Invalid(format!("not UTF-8: {e}"))))
}

fn expect_byte(r: &mut Reader<'_>, want: u8, what: &'static str) -> Result<(), WireError> {
    let off = r.offset();
    let got = r.u8(what)?;
    if got != want {
        return Err(WireError::invalid(
            what,
            off,
            format!("expected {:?}, got 0x{got:02x}", want as char),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_get_round_trip() {
        let bytes = b"\x00\x0e\x01a=\x01b;\x02cc=\x02dd;";
        let m = Mapping::parse(bytes).unwrap();
        assert_eq!(m.get("a"), Some("b"));
        assert_eq!(m.get("cc"), Some("dd"));
        assert_eq!(m.get("x"), None);
        assert_eq!(m.to_bytes(), bytes);
        assert!(m.is_sorted());
    }

    #[test]
    fn keeps_unsorted_wire_order() {
        let bytes = b"\x00\x0c\x01b=\x01x;\x01a=\x01y;";
        let m = Mapping::parse(bytes).unwrap();
        assert!(!m.is_sorted());
        assert_eq!(m.to_bytes(), bytes);
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a"]);
    }

    #[test]
    fn from_pairs_sorts_and_rejects_duplicates() {
        let m = Mapping::from_pairs([("netId", "2"), ("caps", "XfR"), ("a", "")]).unwrap();
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "caps", "netId"]);
        assert_eq!(Mapping::parse(&m.to_bytes()).unwrap(), m);
        assert_eq!(
            Mapping::from_pairs([("k", "1"), ("k", "2")]),
            Err(MappingError::DuplicateKey("k".into()))
        );
        let long = "x".repeat(256);
        assert!(matches!(
            Mapping::from_pairs([(long.as_str(), "v")]),
            Err(MappingError::StringTooLong(_))
        ));
    }

    #[test]
    fn java_order_differs_from_byte_order_outside_bmp() {
        // U+10000 is D800 DC00 in UTF-16, which sorts before U+FFFD; in UTF-8 bytes it is after.
        let m = Mapping::from_pairs([("\u{FFFD}", "a"), ("\u{10000}", "b")]).unwrap();
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["\u{10000}", "\u{FFFD}"]);
    }

    #[test]
    fn malformed() {
        // size larger than the buffer
        let e = Mapping::parse(b"\x00\x10\x01a=\x01b;").unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping content", 2));
        // missing '='
        let e = Mapping::parse(b"\x00\x06\x01a:\x01b;").unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping '='", 4));
        // missing ';'
        let e = Mapping::parse(b"\x00\x06\x01a=\x01b,").unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping ';'", 7));
        // value length runs past the size
        let e = Mapping::parse(b"\x00\x06\x01a=\x05b;").unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping value", 6));
        // invalid UTF-8 in a key
        let e = Mapping::parse(b"\x00\x06\x01\xff=\x01b;").unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping key", 2));
        // duplicate key
        let e = Mapping::parse(b"\x00\x0c\x01a=\x01b;\x01a=\x01c;").unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping key", 8));
        // trailing bytes
        let e = Mapping::parse(b"\x00\x00\x00").unwrap_err();
        assert_eq!((e.what, e.offset), ("mapping", 2));
        assert_eq!(e.kind, WireErrorKind::Trailing(1));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Mapping::parse(&bytes);
        }

        #[test]
        fn built_mappings_round_trip(
            pairs in proptest::collection::btree_map("[a-zA-Z0-9.=;é]{0,20}", "\\PC{0,30}", 0..12)
        ) {
            let m = Mapping::from_pairs(pairs.clone()).unwrap();
            let parsed = Mapping::parse(&m.to_bytes()).unwrap();
            prop_assert_eq!(&parsed, &m);
            prop_assert!(parsed.is_sorted());
            for (k, v) in &pairs {
                prop_assert_eq!(parsed.get(k), Some(v.as_str()));
            }
        }
    }
}

//! A bounded reader for the zip archives reseed bundles use (a flat list of `routerInfo-*.dat`,
//! stored or deflated). It reads the central directory (the authoritative list; local headers
//! may defer sizes to a data descriptor) and refuses anything outside the limits *before*
//! inflating: too many entries, an entry or a total larger than allowed, encryption, ZIP64,
//! multi-disk archives. Inflation itself is capped too, so an entry whose declared size lies
//! cannot expand past its limit, and every entry's CRC-32 is checked.

use super::{Reader, WireError, WireErrorKind};
use std::io::Read;

const EOCD_SIG: u32 = 0x0605_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const EOCD_LEN: usize = 22;
const LOCAL_LEN: usize = 30;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;

/// Bounds that make a hostile archive fail cheaply.
#[derive(Clone, Copy, Debug)]
pub struct ZipLimits {
    pub max_entries: usize,
    /// Largest uncompressed size of one entry, bytes.
    pub max_entry_size: usize,
    /// Largest uncompressed size of all entries together, bytes.
    pub max_total_size: usize,
}

/// One file of the archive, inflated and CRC-checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZipEntry {
    /// The entry name as stored (lossy UTF-8; names are only matched against ASCII patterns).
    pub name: String,
    pub data: Vec<u8>,
}

/// Little-endian readers on top of the big-endian [`Reader`]: zip is the one LE format here.
fn le16(r: &mut Reader<'_>, what: &'static str) -> Result<u16, WireError> {
    Ok(u16::from_le_bytes(r.array::<2>(what)?))
}
fn le32(r: &mut Reader<'_>, what: &'static str) -> Result<u32, WireError> {
    Ok(u32::from_le_bytes(r.array::<4>(what)?))
}

fn too_long(what: &'static str, offset: usize, len: usize, max: usize) -> WireError {
    WireError::new(what, offset, WireErrorKind::TooLong { len, max })
}

/// Offset of the end-of-central-directory record: the last signature match whose comment
/// length reaches exactly to the end of the buffer.
fn find_eocd(buf: &[u8]) -> Result<usize, WireError> {
    if buf.len() < EOCD_LEN {
        return Err(WireError::new(
            "zip end of central directory",
            0,
            WireErrorKind::Truncated {
                need: EOCD_LEN,
                have: buf.len(),
            },
        ));
    }
    let last = buf.len() - EOCD_LEN;
    // The comment is at most 65535 bytes, so the record starts no earlier than this.
    let first = last.saturating_sub(usize::from(u16::MAX));
    for at in (first..=last).rev() {
        let sig = buf.get(at..at + 4).map(|s| [s[0], s[1], s[2], s[3]]);
        if sig.map(u32::from_le_bytes) != Some(EOCD_SIG) {
            continue;
        }
        let comment_len = buf
            .get(at + 20..at + 22)
            .map(|s| usize::from(u16::from_le_bytes([s[0], s[1]])));
        if comment_len.and_then(|c| (at + EOCD_LEN).checked_add(c)) == Some(buf.len()) {
            return Ok(at);
        }
    }
    Err(WireError::invalid(
        "zip end of central directory",
        last,
        "signature not found (not a zip archive)",
    ))
}

/// Parse `buf` as a zip archive and return every file entry (folders are skipped).
pub fn read_zip(buf: &[u8], limits: &ZipLimits) -> Result<Vec<ZipEntry>, WireError> {
    let eocd_at = find_eocd(buf)?;
    let mut r = Reader::with_base(buf.get(eocd_at..).unwrap_or_default(), eocd_at);
    r.bytes(4, "zip eocd signature")?;
    let disk = le16(&mut r, "zip eocd disk number")?;
    let cd_disk = le16(&mut r, "zip eocd central directory disk")?;
    let on_disk = le16(&mut r, "zip eocd entries on this disk")?;
    let entries_at = r.offset();
    let entries = le16(&mut r, "zip eocd entries")?;
    let cd_size = le32(&mut r, "zip eocd central directory size")?;
    let cd_off_at = r.offset();
    let cd_offset = le32(&mut r, "zip eocd central directory offset")?;
    if disk != 0 || cd_disk != 0 || on_disk != entries {
        return Err(WireError::unsupported(
            "zip eocd disk number",
            eocd_at + 4,
            "multi-disk archive",
        ));
    }
    if entries == u16::MAX || cd_size == u32::MAX || cd_offset == u32::MAX {
        return Err(WireError::unsupported(
            "zip eocd entries",
            entries_at,
            "ZIP64 archive",
        ));
    }
    let entries = usize::from(entries);
    if entries > limits.max_entries {
        return Err(too_long(
            "zip eocd entries",
            entries_at,
            entries,
            limits.max_entries,
        ));
    }
    let cd_start = cd_offset as usize;
    let cd_end = cd_start
        .checked_add(cd_size as usize)
        .filter(|end| *end <= eocd_at)
        .ok_or_else(|| {
            WireError::invalid(
                "zip eocd central directory offset",
                cd_off_at,
                "central directory lies outside the archive",
            )
        })?;
    let mut cd = Reader::with_base(buf.get(cd_start..cd_end).unwrap_or_default(), cd_start);

    let mut out = Vec::with_capacity(entries);
    let mut total: usize = 0;
    for _ in 0..entries {
        let entry_at = cd.offset();
        if le32(&mut cd, "zip central header signature")? != CENTRAL_SIG {
            return Err(WireError::invalid(
                "zip central header signature",
                entry_at,
                "bad signature",
            ));
        }
        cd.bytes(4, "zip central header versions")?;
        let flags_at = cd.offset();
        let flags = le16(&mut cd, "zip central header flags")?;
        let method_at = cd.offset();
        let method = le16(&mut cd, "zip central header method")?;
        cd.bytes(4, "zip central header time")?;
        let crc = le32(&mut cd, "zip central header crc")?;
        let csize = le32(&mut cd, "zip central header compressed size")? as usize;
        let usize_at = cd.offset();
        let usize_ = le32(&mut cd, "zip central header uncompressed size")? as usize;
        let name_len = usize::from(le16(&mut cd, "zip central header name length")?);
        let extra_len = usize::from(le16(&mut cd, "zip central header extra length")?);
        let comment_len = usize::from(le16(&mut cd, "zip central header comment length")?);
        cd.bytes(8, "zip central header attributes")?;
        let local_at = le32(&mut cd, "zip central header local offset")? as usize;
        let name = cd.bytes(name_len, "zip central header name")?;
        cd.bytes(extra_len, "zip central header extra")?;
        cd.bytes(comment_len, "zip central header comment")?;

        if flags & 1 != 0 {
            return Err(WireError::unsupported(
                "zip central header flags",
                flags_at,
                "encrypted entry",
            ));
        }
        if name.last() == Some(&b'/') {
            continue;
        }
        if usize_ > limits.max_entry_size {
            return Err(too_long(
                "zip central header uncompressed size",
                usize_at,
                usize_,
                limits.max_entry_size,
            ));
        }
        total = total
            .checked_add(usize_)
            .filter(|t| *t <= limits.max_total_size)
            .ok_or_else(|| {
                too_long(
                    "zip total uncompressed size",
                    usize_at,
                    total.saturating_add(usize_),
                    limits.max_total_size,
                )
            })?;

        // The local header repeats name and extra with possibly different lengths; the data
        // follows them. Its sizes may be zero (data descriptor), so the central ones are used.
        let mut local = Reader::with_base(buf.get(local_at..eocd_at).unwrap_or_default(), local_at);
        if le32(&mut local, "zip local header signature")? != LOCAL_SIG {
            return Err(WireError::invalid(
                "zip local header signature",
                local_at,
                "bad signature",
            ));
        }
        local.bytes(LOCAL_LEN - 8, "zip local header fields")?;
        let l_name = usize::from(le16(&mut local, "zip local header name length")?);
        let l_extra = usize::from(le16(&mut local, "zip local header extra length")?);
        local.bytes(l_name, "zip local header name")?;
        local.bytes(l_extra, "zip local header extra")?;
        let data_at = local.offset();
        let packed = local.bytes(csize, "zip entry data")?;

        let data = match method {
            METHOD_STORED => {
                if csize != usize_ {
                    return Err(WireError::invalid(
                        "zip central header compressed size",
                        usize_at - 4,
                        "stored entry with different compressed and uncompressed sizes",
                    ));
                }
                packed.to_vec()
            }
            METHOD_DEFLATE => {
                // Read at most one byte more than declared: that byte proves a lie without
                // ever inflating more than the limit allows.
                let mut data = Vec::with_capacity(usize_);
                flate2::read::DeflateDecoder::new(packed)
                    .take(usize_ as u64 + 1)
                    .read_to_end(&mut data)
                    .map_err(|e| {
                        WireError::invalid("zip entry data", data_at, format!("deflate: {e}"))
                    })?;
                if data.len() != usize_ {
                    return Err(WireError::invalid(
                        "zip entry data",
                        data_at,
                        format!(
                            "inflates to {}{} bytes, header says {usize_}",
                            data.len(),
                            if data.len() > usize_ { "+" } else { "" }
                        ),
                    ));
                }
                data
            }
            other => {
                return Err(WireError::unsupported(
                    "zip central header method",
                    method_at,
                    format!("compression method {other}"),
                ));
            }
        };
        let mut c = flate2::Crc::new();
        c.update(&data);
        if c.sum() != crc {
            return Err(WireError::invalid(
                "zip entry data",
                data_at,
                "CRC-32 mismatch",
            ));
        }
        out.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            data,
        });
    }
    Ok(out)
}

/// Build a zip archive (stored or deflated entries, no extras). Used to make reseed bundles in
/// tests and by the fuzz target's seed corpus; floodgate itself never writes archives.
pub fn write_zip(entries: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut c = flate2::Crc::new();
        c.update(data);
        let packed = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            // Writing into a Vec cannot fail.
            let _ = e.write_all(data);
            e.finish().unwrap_or_default()
        } else {
            data.to_vec()
        };
        let method = if deflate {
            METHOD_DEFLATE
        } else {
            METHOD_STORED
        };
        let local_at = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&method.to_le_bytes());
            v.extend_from_slice(&[0; 4]); // time, date
            v.extend_from_slice(&c.sum().to_le_bytes());
            v.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&[0; 8]); // disk, internal and external attributes
        central.extend_from_slice(&local_at.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&EOCD_SIG.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ZipLimits = ZipLimits {
        max_entries: 10,
        max_entry_size: 1000,
        max_total_size: 1500,
    };

    #[test]
    fn stored_and_deflated_round_trip() {
        for deflate in [false, true] {
            let z = write_zip(&[("a.dat", b"hello"), ("b.dat", &[7u8; 900])], deflate);
            let e = read_zip(&z, &LIMITS).unwrap();
            assert_eq!(e.len(), 2);
            assert_eq!(e[0].name, "a.dat");
            assert_eq!(e[0].data, b"hello");
            assert_eq!(e[1].data, vec![7u8; 900]);
        }
    }

    #[test]
    fn limits_are_enforced_before_inflating() {
        let big = vec![0u8; 1001];
        let z = write_zip(&[("a", &big)], true);
        let err = read_zip(&z, &LIMITS).unwrap_err();
        assert!(
            matches!(
                err.kind,
                WireErrorKind::TooLong {
                    len: 1001,
                    max: 1000
                }
            ),
            "{err}"
        );
        let z = write_zip(&[("a", &[1u8; 800]), ("b", &[2u8; 800])], true);
        let err = read_zip(&z, &LIMITS).unwrap_err();
        assert_eq!(err.what, "zip total uncompressed size");
        let many: Vec<(String, Vec<u8>)> = (0..11).map(|i| (format!("{i}"), vec![])).collect();
        let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
        let err = read_zip(&write_zip(&refs, false), &LIMITS).unwrap_err();
        assert_eq!(err.what, "zip eocd entries");
    }

    #[test]
    fn a_lying_size_does_not_inflate_past_it() {
        // A bomb: 1 MB of zeros declared as 100 bytes. Only 101 bytes are ever inflated.
        let mut z = write_zip(&[("bomb", &vec![0u8; 1_000_000])], true);
        let cd = z.len() - EOCD_LEN;
        let cd_off = u32::from_le_bytes(z[cd + 16..cd + 20].try_into().unwrap()) as usize;
        // Uncompressed size sits at offset 24 of the central header.
        z[cd_off + 24..cd_off + 28].copy_from_slice(&100u32.to_le_bytes());
        let err = read_zip(&z, &LIMITS).unwrap_err();
        assert_eq!(err.what, "zip entry data");
        assert!(err.to_string().contains("101+"), "{err}");
    }

    #[test]
    fn corruption_gives_typed_errors() {
        let z = write_zip(&[("a.dat", b"hello world")], false);
        // CRC: flip a data byte (the stored data follows the 30-byte header and the name).
        let mut bad = z.clone();
        bad[LOCAL_LEN + 5] ^= 1;
        assert!(
            read_zip(&bad, &LIMITS)
                .unwrap_err()
                .to_string()
                .contains("CRC")
        );
        // Every truncation is an error, never a panic.
        for n in 0..z.len() {
            assert!(read_zip(&z[..n], &LIMITS).is_err(), "prefix {n}");
        }
        assert!(read_zip(b"not a zip at all, certainly not", &LIMITS).is_err());
    }
}

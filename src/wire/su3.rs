//! The su3 signed-file container (updates.rst, "SU3 File Specification"): a 40-byte header,
//! a version, the signer's id, the content and a signature over everything before it.
//!
//! This module only parses; [`Su3::signed_bytes`] and [`Su3::signature`] are what a verifier
//! needs, and the signer's certificate lookup and check live with the reseed code. The parsed
//! file is handed out as [`Unverified`] so that nothing reads the content by accident before the
//! signature was checked.

use super::keys::SigType;
use super::{Reader, Unverified, WireError, WireErrorKind, Writer};

pub const MAGIC: &[u8; 6] = b"I2Psu3";
/// Header bytes before the version field.
pub const HEADER_LEN: usize = 40;
/// The version field is at least this long (for old version checkers).
pub const MIN_VERSION_LEN: usize = 16;

/// File type (byte 25).
pub const FILE_TYPE_ZIP: u8 = 0;
/// Content type (byte 27) of reseed bundles.
pub const CONTENT_TYPE_RESEED: u8 = 3;

/// A parsed su3 file borrowing the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Su3<'a> {
    pub sig_type: SigType,
    /// The version with its zero padding removed (reseed: Unix seconds in ASCII).
    pub version: &'a [u8],
    /// The signer id, e.g. `someone@mail.i2p`.
    pub signer_id: &'a str,
    pub file_type: u8,
    pub content_type: u8,
    pub content: &'a [u8],
    signed: &'a [u8],
    signature: &'a [u8],
}

impl<'a> Su3<'a> {
    /// Parse a whole su3 file. The content length must reach exactly to the signature, and the
    /// signature length must be the one of the signature type.
    pub fn parse(buf: &'a [u8]) -> Result<Unverified<Su3<'a>>, WireError> {
        let mut r = Reader::new(buf);
        let magic = r.bytes(6, "su3 magic")?;
        if magic != MAGIC {
            return Err(WireError::invalid("su3 magic", 0, "not \"I2Psu3\""));
        }
        r.u8("su3 unused byte 6")?;
        let format_at = r.offset();
        let format = r.u8("su3 format version")?;
        if format != 0 {
            return Err(WireError::unsupported(
                "su3 format version",
                format_at,
                format!("version {format}"),
            ));
        }
        let sig_type_at = r.offset();
        let code = r.u16("su3 signature type")?;
        let sig_type = SigType::from_code(code)
            .filter(|t| t.code() <= SigType::RsaSha5124096.code())
            .ok_or_else(|| {
                WireError::unsupported(
                    "su3 signature type",
                    sig_type_at,
                    format!("type {code} is not used in su3 files"),
                )
            })?;
        let sig_len_at = r.offset();
        let sig_len = usize::from(r.u16("su3 signature length")?);
        if sig_len != sig_type.signature_len() {
            return Err(WireError::invalid(
                "su3 signature length",
                sig_len_at,
                format!(
                    "{sig_len} for {}, expected {}",
                    sig_type.label(),
                    sig_type.signature_len()
                ),
            ));
        }
        r.u8("su3 unused byte 12")?;
        let version_len_at = r.offset();
        let version_len = usize::from(r.u8("su3 version length")?);
        if version_len < MIN_VERSION_LEN {
            return Err(WireError::invalid(
                "su3 version length",
                version_len_at,
                format!("{version_len}, at least {MIN_VERSION_LEN}"),
            ));
        }
        r.u8("su3 unused byte 14")?;
        let signer_len = usize::from(r.u8("su3 signer id length")?);
        let content_len_at = r.offset();
        let content_len = r.u64("su3 content length")?;
        r.u8("su3 unused byte 24")?;
        let file_type = r.u8("su3 file type")?;
        r.u8("su3 unused byte 26")?;
        let content_type = r.u8("su3 content type")?;
        r.bytes(HEADER_LEN - 28, "su3 unused bytes 28-39")?;

        let version_raw = r.bytes(version_len, "su3 version")?;
        let version_end = version_raw
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i + 1);
        let version = version_raw.get(..version_end).unwrap_or_default();
        let signer_at = r.offset();
        let signer_id = std::str::from_utf8(r.bytes(signer_len, "su3 signer id")?)
            .map_err(|_| WireError::invalid("su3 signer id", signer_at, "not UTF-8"))?;

        // The content must end exactly where the signature starts.
        let expected = usize::try_from(content_len)
            .ok()
            .and_then(|c| c.checked_add(sig_len))
            .filter(|n| *n == r.remaining());
        if expected.is_none() {
            let have = r.remaining();
            return Err(
                match usize::try_from(content_len)
                    .ok()
                    .and_then(|c| c.checked_add(sig_len))
                {
                    Some(need) if need > have => WireError::new(
                        "su3 content length",
                        content_len_at,
                        WireErrorKind::Truncated { need, have },
                    ),
                    Some(need) => WireError::new(
                        "su3 signature",
                        r.offset().saturating_add(need),
                        WireErrorKind::Trailing(have - need),
                    ),
                    None => WireError::new(
                        "su3 content length",
                        content_len_at,
                        WireErrorKind::TooLong {
                            len: usize::MAX,
                            max: have,
                        },
                    ),
                },
            );
        }
        let content_at = r.position();
        let content = r.bytes(content_len as usize, "su3 content")?;
        let signed = buf.get(..content_at + content.len()).unwrap_or_default();
        let signature = r.bytes(sig_len, "su3 signature")?;
        r.finish("su3 signature")?;
        Ok(Unverified::new(Su3 {
            sig_type,
            version,
            signer_id,
            file_type,
            content_type,
            content,
            signed,
            signature,
        }))
    }

    /// Everything the signature covers: header, version, signer id and content.
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.signed
    }
    pub fn signature(&self) -> &'a [u8] {
        self.signature
    }
}

/// Header, version and signer id for `content`, i.e. the bytes to sign; append the signature of
/// the type's length to get an su3 file. For tests and the fuzz corpus: floodgate does not sign
/// su3 files.
pub fn unsigned_su3(
    sig_type: SigType,
    version: &[u8],
    signer_id: &str,
    file_type: u8,
    content_type: u8,
    content: &[u8],
) -> Vec<u8> {
    let mut w: Vec<u8> = Vec::new();
    w.put_bytes(MAGIC);
    w.put_u8(0);
    w.put_u8(0);
    w.put_u16(sig_type.code());
    w.put_u16(sig_type.signature_len() as u16);
    w.put_u8(0);
    let version_len = version.len().clamp(MIN_VERSION_LEN, 255);
    w.put_u8(version_len as u8);
    w.put_u8(0);
    w.put_u8(signer_id.len().min(255) as u8);
    w.put_u64(content.len() as u64);
    w.put_u8(0);
    w.put_u8(file_type);
    w.put_u8(0);
    w.put_u8(content_type);
    w.put_bytes(&[0; HEADER_LEN - 28]);
    let mut v = version
        .get(..version_len.min(version.len()))
        .unwrap_or_default()
        .to_vec();
    v.resize(version_len, 0);
    w.put_bytes(&v);
    w.put_bytes(
        signer_id
            .as_bytes()
            .get(..signer_id.len().min(255))
            .unwrap_or_default(),
    );
    w.put_bytes(content);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8]) -> Vec<u8> {
        let mut f = unsigned_su3(
            SigType::EcdsaSha256P256,
            b"1700000000",
            "someone@mail.i2p",
            FILE_TYPE_ZIP,
            CONTENT_TYPE_RESEED,
            content,
        );
        f.extend_from_slice(&[0xAB; 64]);
        f
    }

    #[test]
    fn parses_every_field() {
        let f = file(b"zipbytes");
        let s = Su3::parse(&f).unwrap().dangerous_into_inner();
        assert_eq!(s.sig_type, SigType::EcdsaSha256P256);
        assert_eq!(s.version, b"1700000000");
        assert_eq!(s.signer_id, "someone@mail.i2p");
        assert_eq!(s.file_type, FILE_TYPE_ZIP);
        assert_eq!(s.content_type, CONTENT_TYPE_RESEED);
        assert_eq!(s.content, b"zipbytes");
        assert_eq!(s.signature(), &[0xAB; 64]);
        assert_eq!(s.signed_bytes(), &f[..f.len() - 64]);
        assert_eq!(s.signed_bytes().len(), HEADER_LEN + 16 + 16 + 8);
    }

    #[test]
    fn every_field_error_is_named_with_its_offset() {
        let f = file(b"zipbytes");
        let err = |f: &[u8]| Su3::parse(f).unwrap_err();
        let mut bad = f.clone();
        bad[0] = b'X';
        assert_eq!((err(&bad).what, err(&bad).offset), ("su3 magic", 0));
        let mut bad = f.clone();
        bad[7] = 1;
        assert_eq!(err(&bad).what, "su3 format version");
        let mut bad = f.clone();
        bad[9] = 7; // Ed25519: not an su3 type
        assert_eq!(
            (err(&bad).what, err(&bad).offset),
            ("su3 signature type", 8)
        );
        let mut bad = f.clone();
        bad[11] = 65;
        assert_eq!(err(&bad).what, "su3 signature length");
        let mut bad = f.clone();
        bad[13] = 15;
        assert_eq!(err(&bad).what, "su3 version length");
        let mut bad = f.clone();
        bad[23] += 1;
        assert!(matches!(err(&bad).kind, WireErrorKind::Truncated { .. }));
        assert_eq!(err(&bad).what, "su3 content length");
        let mut long = f.clone();
        long.push(0);
        assert!(matches!(err(&long).kind, WireErrorKind::Trailing(1)));
        let mut huge = f.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(err(&huge).what, "su3 content length");
        // Every prefix is a typed error, never a panic.
        for n in 0..f.len() {
            assert!(Su3::parse(&f[..n]).is_err(), "prefix {n}");
        }
    }
}

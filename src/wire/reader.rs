use super::error::{WireError, WireErrorKind};

/// A bounds-checked cursor over a byte slice. Every read names the field it reads so that an
/// error says what was being parsed and where. Offsets are relative to `base` + position, so a
/// sub-reader over a nested slice still reports offsets of the outer buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }
    /// A reader whose reported offsets start at `base` (the slice's offset in an outer buffer).
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }
    /// Absolute offset of the next byte (for error messages).
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }
    /// Position relative to the start of this reader's slice.
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    /// The whole underlying slice (e.g. to hash the signed part of a structure).
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }
    pub fn err(&self, what: &'static str, kind: WireErrorKind) -> WireError {
        WireError::new(what, self.offset(), kind)
    }
    pub fn invalid(&self, what: &'static str, why: impl Into<String>) -> WireError {
        WireError::invalid(what, self.offset(), why)
    }
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(self.err(
                what,
                WireErrorKind::Truncated {
                    need: n,
                    have: self.remaining(),
                },
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let s = self.bytes(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.bytes(1, what)?[0])
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
    /// A sub-reader over the next `n` bytes, reporting offsets in this reader's frame.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, WireError> {
        let base = self.offset();
        let s = self.bytes(n, what)?;
        Ok(Reader::with_base(s, base))
    }
    /// Fail if bytes are left over.
    pub fn finish(&self, what: &'static str) -> Result<(), WireError> {
        if self.remaining() != 0 {
            return Err(self.err(what, WireErrorKind::Trailing(self.remaining())));
        }
        Ok(())
    }
}

/// Big-endian serialization helpers on a growable buffer.
pub trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_bytes(&mut self, v: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v)
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn put_bytes(&mut self, v: &[u8]) {
        self.extend_from_slice(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_read_names_field_and_offset() {
        let mut r = Reader::with_base(&[1, 2, 3], 10);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        let e = r.u16("b").unwrap_err();
        assert_eq!(e.what, "b");
        assert_eq!(e.offset, 12);
        assert_eq!(e.kind, WireErrorKind::Truncated { need: 2, have: 1 });
    }
}

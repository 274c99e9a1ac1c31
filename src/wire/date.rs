//! Date (common-structures "Date"): milliseconds since the Unix epoch, 8 bytes big-endian.
//! The value 0 means "undefined / null".

use super::{Reader, WireError, Writer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Date(u64);

impl Date {
    /// The null date (all zero bytes), e.g. the always-unused RouterAddress expiration.
    pub const UNDEFINED: Date = Date(0);

    pub fn from_millis(ms: u64) -> Self {
        Self(ms)
    }
    pub fn millis(self) -> u64 {
        self.0
    }
    pub fn is_undefined(self) -> bool {
        self.0 == 0
    }
    /// `None` for the undefined date, so callers cannot mistake it for 1970.
    pub fn to_system_time(self) -> Option<SystemTime> {
        if self.is_undefined() {
            return None;
        }
        UNIX_EPOCH.checked_add(Duration::from_millis(self.0))
    }
    /// The current time truncated to milliseconds; times before 1970 (a broken clock) give 0.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }
    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self(ms)
    }
    pub fn read(r: &mut Reader<'_>, what: &'static str) -> Result<Self, WireError> {
        Ok(Self(r.u64(what)?))
    }
    pub fn write(self, out: &mut Vec<u8>) {
        out.put_u64(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_null() {
        let mut out = Vec::new();
        Date::from_millis(0x0102_0304_0506_0708).write(&mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        let d = Date::read(&mut Reader::new(&out), "d").unwrap();
        assert_eq!(d.millis(), 0x0102_0304_0506_0708);
        assert!(Date::UNDEFINED.to_system_time().is_none());
        assert_eq!(
            Date::from_millis(1500).to_system_time(),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        let e = Date::read(&mut Reader::with_base(&[0; 7], 5), "published").unwrap_err();
        assert_eq!((e.what, e.offset), ("published", 5));
    }
}

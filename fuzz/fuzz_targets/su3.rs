//! su3 container and the zip reader behind it. Parsing must never panic; whatever parses must
//! describe a consistent file (signed part + signature = input), and the zip reader must stay
//! within its limits on any bytes, including the content of a parsed su3.

#![no_main]

use floodgate::wire::su3::Su3;
use floodgate::wire::zip::{ZipLimits, read_zip};
use libfuzzer_sys::fuzz_target;

const LIMITS: ZipLimits = ZipLimits {
    max_entries: 64,
    max_entry_size: 64 * 1024,
    max_total_size: 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = Su3::parse(data) {
        let s = u.dangerous_inner();
        assert_eq!(
            s.signed_bytes().len() + s.signature().len(),
            data.len(),
            "su3 parts do not add up to the input"
        );
        assert_eq!(s.signature().len(), s.sig_type.signature_len());
        if let Ok(entries) = read_zip(s.content, &LIMITS) {
            assert!(entries.len() <= LIMITS.max_entries);
        }
    }
    if let Ok(entries) = read_zip(data, &LIMITS) {
        assert!(entries.len() <= LIMITS.max_entries);
        let total: usize = entries.iter().map(|e| e.data.len()).sum();
        assert!(total <= LIMITS.max_total_size);
        assert!(
            entries
                .iter()
                .all(|e| e.data.len() <= LIMITS.max_entry_size)
        );
    }
});

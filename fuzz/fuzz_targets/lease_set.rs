//! Every LeaseSet kind a DatabaseStore can carry (types 1, 3, 5, 7), selected by the first byte.
//! Parsed sets must re-encode byte for byte; verification never panics.

#![no_main]

use floodgate::wire::date::Date;
use floodgate::wire::lease_set::AnyLeaseSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let store_type = [1u8, 3, 5, 7][usize::from(selector & 3)];
    if let Ok(u) = AnyLeaseSet::parse(store_type, rest) {
        let _ = u.dangerous_inner().store_key();
        let _ = u.verify(Date::from_millis(1_700_000_000_000));
    }
});

//! RouterInfo: plain and gzip (DatabaseStore) forms. Anything that parses must re-encode to
//! exactly the input; verification must never panic whatever the keys and signature are, and
//! neither may the family check (`family`, `family.key`, `family.sig` options of any content).

#![no_main]

use floodgate::wire::RouterInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = RouterInfo::parse(data) {
        assert_eq!(u.dangerous_inner().to_bytes(), data, "RouterInfo re-encoding differs");
        let _ = u.dangerous_inner().caps();
        let _ = u.dangerous_inner().net_id();
        for a in u.dangerous_inner().addresses() {
            let _ = (a.ip(), a.port(), a.static_key(), a.i_param());
        }
        let _ = floodgate::identity::family::verify(u.dangerous_inner());
        let _ = u.verify();
    }
    let _ = RouterInfo::from_gzip(data);
});

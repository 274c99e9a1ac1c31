//! Configuration YAML: any document gives a config or a ConfigError naming a key; never a panic.

#![no_main]

use floodgate::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(c) = Config::from_yaml(text)
    {
        let _ = c.validate();
    }
});

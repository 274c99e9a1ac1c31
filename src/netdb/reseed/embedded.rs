//! The public I2P reseed servers and their su3 signer certificates, as data.
//!
//! [`DEFAULT_URLS`] is the union of Java I2P's `Reseeder.DEFAULT_SSL_SEED_URL` and i2pd's
//! default `reseed.urls` (HTTPS only; no `.onion`/`.i2p`, no plain http), each written with the
//! trailing `/` the sources use. [`CERTIFICATES`] is every reseed signer certificate
//! (`<signer id with @ as _at_>.crt`, PEM X.509, verbatim) of Java I2P's
//! `installer/resources/certificates/reseed/`, plus those of i2pd's
//! `contrib/certificates/reseed/` that Java lacks. Where each file and URL came from, with the
//! repository commits, is in `certificates/SOURCES.md`.
//!
//! Gathered 2026-12-03. These servers and signers belong to the public I2P network, net id 2
//! only: a router on any other net id must not use them.
//!
//! Some signers are past, or near, their notAfter (`hottuna_at_mail.i2p.crt` expired
//! 2026-11-09, `lazygravy_at_mail.i2p.crt` ends 2026-12-27); like Java I2P and i2pd, su3
//! verification does not check reseed signer expiry (see [`super::certs`]). Three servers of
//! the union are left out of [`DEFAULT_URLS`] because floodgate could not use them (the list's
//! closing comment says why).

/// Default HTTPS reseed URLs (net id 2), each ending in `/`.
pub const DEFAULT_URLS: &[&str] = &[
    "https://reseed2.i2pgit.org/",
    "https://reseed.kiota.ch/",
    "https://waw01.i2p-reseed.hosted-by.skhron.eu/",
    "https://sto01.i2p-reseed.hosted-by.skhron.eu/",
    "https://i2p.ntp.poweredbyberlin.de/",
    "https://spiral.likogan.dev/",
    "https://reseed.sahil.world/",
    "https://i2p.diyarciftci.xyz/",
    "https://reseed.stormycloud.org/",
    "https://reseed-pl.i2pd.xyz/",
    "https://reseed-fr.i2pd.xyz/",
    "https://www2.mk16.de/",
    "https://reseed2.i2p.net/",
    "https://reseed.diva.exchange/",
    "https://i2p.novg.net/",
    "https://reseed.onion.im/",
    "https://reseed.i2pgit.org/",
    // Left out of the union, because floodgate could not use them:
    // - https://i2pseed.creativecowpat.net:8443/ has a self-signed TLS certificate (Java I2P
    //   pins it in certificates/ssl/); floodgate trusts the web PKI roots plus
    //   `reseed.tls_roots`, so an operator who wants it adds that certificate there.
    // - https://coconut.incognet.io/: its TLS certificate has expired (i2pd's own comment) and
    //   Java I2P has dropped it.
    // - https://bybyh.de/: no signer certificate for it in either source.
];

/// Reseed su3 signer certificates (net id 2): (file name, PEM bytes), sorted by file name.
/// The file name is the signer id with `@` written `_at_`, plus `.crt`.
pub const CERTIFICATES: &[(&str, &[u8])] = &[
    (
        "acetone_at_mail.i2p.crt",
        include_bytes!("certificates/acetone_at_mail.i2p.crt"),
    ),
    (
        "admin_at_likogan.dev.crt",
        include_bytes!("certificates/admin_at_likogan.dev.crt"),
    ),
    (
        "admin_at_stormycloud.org.crt",
        include_bytes!("certificates/admin_at_stormycloud.org.crt"),
    ),
    (
        "arnavbhatt288_at_mail.i2p.crt",
        include_bytes!("certificates/arnavbhatt288_at_mail.i2p.crt"),
    ),
    (
        "creativecowpat_at_mail.i2p.crt",
        include_bytes!("certificates/creativecowpat_at_mail.i2p.crt"),
    ),
    (
        "damian.buho_at_proton.me.crt",
        include_bytes!("certificates/damian.buho_at_proton.me.crt"),
    ),
    (
        "diyarciftci_at_protonmail.com.crt",
        include_bytes!("certificates/diyarciftci_at_protonmail.com.crt"),
    ),
    (
        "echelon3_at_mail.i2p.crt",
        include_bytes!("certificates/echelon3_at_mail.i2p.crt"),
    ),
    (
        "freedompeer_at_skhron.eu.crt",
        include_bytes!("certificates/freedompeer_at_skhron.eu.crt"),
    ),
    (
        "hankhill19580_at_gmail.com.crt",
        include_bytes!("certificates/hankhill19580_at_gmail.com.crt"),
    ),
    (
        "hottuna_at_mail.i2p.crt",
        include_bytes!("certificates/hottuna_at_mail.i2p.crt"),
    ),
    (
        "i2p-reseed_at_mk16.de.crt",
        include_bytes!("certificates/i2p-reseed_at_mk16.de.crt"),
    ),
    (
        "idk_at_stormycloud.org.crt",
        include_bytes!("certificates/idk_at_stormycloud.org.crt"),
    ),
    (
        "igor_at_novg.net.crt",
        include_bytes!("certificates/igor_at_novg.net.crt"),
    ),
    (
        "lazygravy_at_mail.i2p.crt",
        include_bytes!("certificates/lazygravy_at_mail.i2p.crt"),
    ),
    (
        "orignal_at_mail.i2p.crt",
        include_bytes!("certificates/orignal_at_mail.i2p.crt"),
    ),
    (
        "r4sas-reseed_at_mail.i2p.crt",
        include_bytes!("certificates/r4sas-reseed_at_mail.i2p.crt"),
    ),
    (
        "rambler_at_mail.i2p.crt",
        include_bytes!("certificates/rambler_at_mail.i2p.crt"),
    ),
    (
        "reseed_at_diva.exchange.crt",
        include_bytes!("certificates/reseed_at_diva.exchange.crt"),
    ),
    (
        "reseedserver_at_mail.i2p.crt",
        include_bytes!("certificates/reseedserver_at_mail.i2p.crt"),
    ),
    (
        "sahil_at_mail.i2p.crt",
        include_bytes!("certificates/sahil_at_mail.i2p.crt"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn certificates_match_the_folder() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/netdb/reseed/certificates");
        let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
            .expect("read certificates folder")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8 file name")
            })
            .filter(|n| n.ends_with(".crt"))
            .collect();
        let listed: BTreeSet<String> = CERTIFICATES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            listed.len(),
            CERTIFICATES.len(),
            "duplicate names in CERTIFICATES"
        );
        for n in &on_disk {
            assert!(
                listed.contains(n),
                "{n} is in certificates/ but not in CERTIFICATES"
            );
        }
        for n in &listed {
            assert!(
                on_disk.contains(n),
                "{n} is in CERTIFICATES but not in certificates/"
            );
        }
        let names: Vec<&str> = CERTIFICATES.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "CERTIFICATES must be sorted by name");
        for (n, pem) in CERTIFICATES {
            assert!(
                pem.starts_with(b"-----BEGIN CERTIFICATE-----"),
                "{n} is not PEM"
            );
        }
    }

    #[test]
    fn urls_are_https_directories() {
        for u in DEFAULT_URLS {
            assert!(u.starts_with("https://"), "{u} is not https");
            assert!(u.ends_with('/'), "{u} does not end with /");
        }
        let distinct: BTreeSet<&str> = DEFAULT_URLS.iter().copied().collect();
        assert_eq!(distinct.len(), DEFAULT_URLS.len(), "duplicate URLs");
    }
}

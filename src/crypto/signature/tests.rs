//! Vector and robustness tests for every signature type.
//!
//! Positive vectors all come from outside this crate: RFC 8032 for Ed25519/Ed25519ph, OpenSSL
//! for DSA/ECDSA/RSA/Ed25519 (tests/data/sig/gen_openssl_vectors.sh), and an independent
//! Python implementation for RedDSA (tests/data/sig/red25519_vectors.py), Wycheproof for ML-DSA
//! (tests/data/sig/wycheproof_mldsa.py), see tests/data/sig/README.md.

use super::*;
use proptest::prelude::*;

// ------------------------------------------------------------------ helpers

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// One vector file block: `name hex` lines, blocks separated by blank lines, `#` comments.
#[derive(Debug, Default)]
struct Block {
    fields: Vec<(String, Vec<u8>)>,
}

impl Block {
    fn get(&self, name: &str) -> &[u8] {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_else(|| panic!("vector without {name}"))
    }
    fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur = Block::default();
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let (name, value) = line.split_once(' ').unwrap_or((line, ""));
        cur.fields.push((name.to_string(), unhex(value.trim())));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    out
}

const DSA_VECTORS: &str = include_str!("../../../tests/data/sig/dsa_sha1.txt");
const P256_VECTORS: &str = include_str!("../../../tests/data/sig/ecdsa_p256.txt");
const P384_VECTORS: &str = include_str!("../../../tests/data/sig/ecdsa_p384.txt");
const P521_VECTORS: &str = include_str!("../../../tests/data/sig/ecdsa_p521.txt");
const RSA2048_VECTORS: &str = include_str!("../../../tests/data/sig/rsa_2048.txt");
const RSA3072_VECTORS: &str = include_str!("../../../tests/data/sig/rsa_3072.txt");
const RSA4096_VECTORS: &str = include_str!("../../../tests/data/sig/rsa_4096.txt");
const ED25519_VECTORS: &str = include_str!("../../../tests/data/sig/ed25519_openssl.txt");
const ED25519PH_I2P_VECTORS: &str = include_str!("../../../tests/data/sig/ed25519ph_i2p.txt");
const REDDSA_VECTORS: &str = include_str!("../../../tests/data/sig/reddsa.txt");
const MLDSA44_VECTORS: &str = include_str!("../../../tests/data/sig/mldsa44.txt");
const MLDSA65_VECTORS: &str = include_str!("../../../tests/data/sig/mldsa65.txt");
const MLDSA87_VECTORS: &str = include_str!("../../../tests/data/sig/mldsa87.txt");
const MLDSA44_INVALID: &str = include_str!("../../../tests/data/sig/mldsa44_invalid.txt");
const MLDSA65_INVALID: &str = include_str!("../../../tests/data/sig/mldsa65_invalid.txt");
const MLDSA87_INVALID: &str = include_str!("../../../tests/data/sig/mldsa87_invalid.txt");

fn vector_files() -> Vec<(SigType, &'static str)> {
    vec![
        (SigType::DsaSha1, DSA_VECTORS),
        (SigType::EcdsaSha256P256, P256_VECTORS),
        (SigType::EcdsaSha384P384, P384_VECTORS),
        (SigType::EcdsaSha512P521, P521_VECTORS),
        (SigType::RsaSha2562048, RSA2048_VECTORS),
        (SigType::RsaSha3843072, RSA3072_VECTORS),
        (SigType::RsaSha5124096, RSA4096_VECTORS),
        (SigType::EdDsaSha512Ed25519, ED25519_VECTORS),
        (SigType::EdDsaSha512Ed25519ph, ED25519PH_I2P_VECTORS),
        (SigType::RedDsaSha512Ed25519, REDDSA_VECTORS),
        (SigType::MlDsa44, MLDSA44_VECTORS),
        (SigType::MlDsa65, MLDSA65_VECTORS),
        (SigType::MlDsa87, MLDSA87_VECTORS),
    ]
}

/// Every type that verifies (the ML-DSA hybrids 15-17 do not, see `ml_dsa_hybrids_are_unsupported`).
fn all_types() -> [SigType; 13] {
    [
        SigType::DsaSha1,
        SigType::EcdsaSha256P256,
        SigType::EcdsaSha384P384,
        SigType::EcdsaSha512P521,
        SigType::RsaSha2562048,
        SigType::RsaSha3843072,
        SigType::RsaSha5124096,
        SigType::EdDsaSha512Ed25519,
        SigType::EdDsaSha512Ed25519ph,
        SigType::RedDsaSha512Ed25519,
        SigType::MlDsa44,
        SigType::MlDsa65,
        SigType::MlDsa87,
    ]
}

fn key(t: SigType, bytes: &[u8]) -> SigningPublicKey {
    SigningPublicKey::from_bytes(t, bytes).unwrap_or_else(|e| panic!("{t:?} key rejected: {e}"))
}

/// Every type's first vector with its parsed key, built once for the proptests: parsing the
/// vector files and decoding ML-DSA keys (which expands the public matrix) per case would
/// dominate their run time.
fn first_keys() -> &'static [(SigType, Block, SigningPublicKey)] {
    static KEYS: std::sync::OnceLock<Vec<(SigType, Block, SigningPublicKey)>> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        all_types()
            .into_iter()
            .map(|t| {
                let v = first_vector(t);
                let pk = key(t, v.get("key"));
                (t, v, pk)
            })
            .collect()
    })
}

fn first_vector(t: SigType) -> Block {
    let (_, text) = vector_files()
        .into_iter()
        .find(|(ft, _)| *ft == t)
        .expect("vector file for type");
    blocks(text)
        .into_iter()
        .next()
        .expect("at least one vector")
}

// ------------------------------------------------------------------ positive vectors

#[test]
fn external_vectors_verify_for_every_type() {
    for (t, text) in vector_files() {
        let vectors = blocks(text);
        assert!(vectors.len() >= 2, "{t:?}: too few vectors");
        for (i, v) in vectors.iter().enumerate() {
            let pk = key(t, v.get("key"));
            assert_eq!(pk.sig_type(), t);
            assert_eq!(
                pk.verify(v.get("msg"), v.get("sig")),
                Ok(()),
                "{t:?} vector {i}"
            );
        }
    }
}

/// The generator searched for signatures whose r or s starts with a zero byte, so the raw
/// fixed-width conversion (and its inverse here) is exercised.
#[test]
fn padded_dsa_and_ecdsa_components_are_covered() {
    for (t, text) in &vector_files()[..4] {
        let half = t.signature_len() / 2;
        let padded = blocks(text).iter().any(|v| {
            let sig = v.get("sig");
            sig[0] == 0 || sig[half] == 0
        });
        assert!(padded, "{t:?}: no vector with a leading zero in r or s");
    }
}

// RFC 8032 §7.1 test vectors (TEST 1, 2, 3, SHA(abc)): (secret, public, message, signature).
const RFC8032_ED25519: [(&str, &str, &str, &str); 4] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

// RFC 8032 §7.3 Ed25519ph test vector "abc": (secret, public, message, signature).
const RFC8032_ED25519PH: (&str, &str, &str, &str) = (
    "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    "616263",
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
);

#[test]
fn rfc8032_ed25519_verify_and_sign() {
    for (sk, pk, msg, sig) in RFC8032_ED25519 {
        let (sk, pk, msg, sig) = (unhex(sk), unhex(pk), unhex(msg), unhex(sig));
        assert_eq!(
            key(SigType::EdDsaSha512Ed25519, &pk).verify(&msg, &sig),
            Ok(())
        );
        // Signing is deterministic, so our signer must reproduce the RFC signature exactly.
        let signer = SigningPrivateKey::from_bytes(&sk.clone().try_into().expect("32 bytes"));
        assert_eq!(signer.public_bytes().to_vec(), pk);
        assert_eq!(signer.sign(&msg).to_vec(), sig);
        assert_eq!(signer.public().verify(&msg, &sig), Ok(()));
    }
}

#[test]
fn rfc8032_ed25519ph_vector_verifies_as_type_8() {
    let (_, pk, msg, sig) = RFC8032_ED25519PH;
    let pk = key(SigType::EdDsaSha512Ed25519ph, &unhex(pk));
    assert_eq!(pk.verify(&unhex(msg), &unhex(sig)), Ok(()));
    assert_eq!(
        pk.verify(b"abd", &unhex(sig)),
        Err(SignatureError::Invalid(SigType::EdDsaSha512Ed25519ph))
    );
}

/// RFC 8032's "TEST SHA(abc)" is a PureEd25519 signature of SHA-512("abc") under the same key as
/// its Ed25519ph vector: that is exactly Java I2P's type-8 construction for the message "abc".
#[test]
fn rfc8032_sha_abc_vector_is_java_style_type_8_signature_of_abc() {
    let (_, pk, _, sig) = RFC8032_ED25519[3];
    let pk8 = key(SigType::EdDsaSha512Ed25519ph, &unhex(pk));
    assert_eq!(pk8.verify(b"abc", &unhex(sig)), Ok(()));
}

/// Type 8 must not accept a plain type-7 signature over the message itself, and type 7 must
/// not accept either prehash construction.
#[test]
fn ed25519ph_and_ed25519_do_not_cross_verify() {
    let v = first_vector(SigType::EdDsaSha512Ed25519);
    let pure_sig = v.get("sig");
    assert_eq!(
        key(SigType::EdDsaSha512Ed25519ph, v.get("key")).verify(v.get("msg"), pure_sig),
        Err(SignatureError::Invalid(SigType::EdDsaSha512Ed25519ph))
    );
    let v8 = first_vector(SigType::EdDsaSha512Ed25519ph);
    assert_eq!(
        key(SigType::EdDsaSha512Ed25519, v8.get("key")).verify(v8.get("msg"), v8.get("sig")),
        Err(SignatureError::Invalid(SigType::EdDsaSha512Ed25519))
    );
    let (_, pk, msg, sig) = RFC8032_ED25519PH;
    assert_eq!(
        key(SigType::EdDsaSha512Ed25519, &unhex(pk)).verify(&unhex(msg), &unhex(sig)),
        Err(SignatureError::Invalid(SigType::EdDsaSha512Ed25519))
    );
}

/// Deliberately non-strict: with the identity point as public key, [S]B - [k]A = [S]B, so
/// (encode([S]B), S) verifies for any message. Java's EdDSAEngine and OpenSSL (checked with
/// `openssl pkeyutl -verify`, see README) accept it; verify_strict would reject this weak key,
/// and with it entries the rest of the network considers valid.
#[test]
fn ed25519_follows_cofactorless_non_strict_rule() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let s = curve25519_dalek::Scalar::from(12345u64);
    let r = curve25519_dalek::EdwardsPoint::mul_base(&s).compress();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    for t in [SigType::EdDsaSha512Ed25519, SigType::RedDsaSha512Ed25519] {
        assert_eq!(key(t, &identity).verify(b"hello", &sig), Ok(()));
    }
}

/// EdDSA S must be below L (RFC 8032; Java checks it too): S + L is rejected.
#[test]
fn ed25519_rejects_non_canonical_s() {
    let (_, pk, msg, sig) = RFC8032_ED25519[1];
    let mut sig = unhex(sig);
    let s = curve25519_dalek::Scalar::from_canonical_bytes(sig[32..].try_into().expect("32"))
        .expect("canonical");
    // L = 2^252 + 27742317777372353535851937790883648493, little-endian, added to S with carry.
    let l = unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut carry = 0u16;
    let mut sum = [0u8; 32];
    for (i, out) in sum.iter_mut().enumerate() {
        let v = u16::from(s.as_bytes()[i]) + u16::from(l[i]) + carry;
        *out = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    // Same residue, so only the S < L rule can reject it.
    assert_eq!(curve25519_dalek::Scalar::from_bytes_mod_order(sum), s);
    sig[32..].copy_from_slice(&sum);
    assert_eq!(
        key(SigType::EdDsaSha512Ed25519, &unhex(pk)).verify(&unhex(msg), &sig),
        Err(SignatureError::Invalid(SigType::EdDsaSha512Ed25519))
    );
}

// ------------------------------------------------------------------ RedDSA

/// red25519.rst test vector 1 (vk, msg, sig, alpha, rvk) and vectors 2, 3 (vk, alpha, rvk).
const RED25519_SPEC_V1_SIG: (&str, &str, &str) = (
    "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
    "0202020202020202020202020202020202020202020202020202020202020202",
    "61f5527f4d3b46de4b2c234390370bf715ae9098907a0d191ba1b44b23a8ac1a6a40437a5294e9503faaf9bd2b7f2fe7ba44dec487b3185aba7ff7d7a17cd40f",
);
const RED25519_SPEC_BLINDING: [(&str, &str, &str); 3] = [
    (
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
        "ae9ba9cbbc047c442448fca7c9f4e288a202ed520bfad0c784b792b7773cee08",
        "6fe128737b8e76fa66698a748b0dc0a89168dd8a0601c2b1c0b26835d323e9b3",
    ),
    (
        "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
        "98b615d9027e996cc2796c019d9c8beb46aa7d2b6eea2e5d98eb29eb1584c203",
        "527e121090158419609e4a0d8de6f7d3271b353a8cd0b8172fe41468ea1e9177",
    ),
    (
        "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1",
        "ba17f5110fcea8a12e0bd3677e4088b874332c4e3e6c9911d9ec3fe0233d3e0a",
        "6e2b9b129bbe00fa964c996d40307dd01aff120e94fd15f17119341ecda3d7a0",
    ),
];

/// Deployed Red25519 verification is Ed25519's, so the Python-made vectors also verify as type 7.
#[test]
fn reddsa_vectors_verify_like_ed25519() {
    for v in blocks(REDDSA_VECTORS) {
        for t in [SigType::RedDsaSha512Ed25519, SigType::EdDsaSha512Ed25519] {
            assert_eq!(
                key(t, v.get("key")).verify(v.get("msg"), v.get("sig")),
                Ok(())
            );
        }
    }
}

/// The red25519.rst vectors use that document's personalised hash, which neither Java I2P nor
/// i2pd implements; they are rejected here as they would be by both (see eddsa.rs).
#[test]
fn red25519_rst_personalised_vector_is_rejected() {
    let (vk, msg, sig) = RED25519_SPEC_V1_SIG;
    assert_eq!(
        key(SigType::RedDsaSha512Ed25519, &unhex(vk)).verify(&unhex(msg), &unhex(sig)),
        Err(SignatureError::Invalid(SigType::RedDsaSha512Ed25519))
    );
}

#[test]
fn blinding_matches_spec_and_python_vectors() {
    for (vk, alpha, rvk) in RED25519_SPEC_BLINDING {
        let alpha: [u8; 32] = unhex(alpha).try_into().expect("32 bytes");
        assert_eq!(
            blind_public_key(&unhex(vk), &alpha).map(|k| k.to_vec()),
            Ok(unhex(rvk))
        );
    }
    let mut blinded_seen = 0;
    for v in blocks(REDDSA_VECTORS).iter().filter(|v| v.has("alpha")) {
        let alpha: [u8; 32] = v.get("alpha").try_into().expect("32 bytes");
        let blinded = blind_public_key(v.get("unblinded"), &alpha).expect("blinds");
        assert_eq!(blinded.as_slice(), v.get("key"));
        blinded_seen += 1;
    }
    assert!(blinded_seen >= 2);
    assert!(matches!(
        blind_public_key(&[0u8; 31], &[0u8; 32]),
        Err(SignatureError::BadPublicKey { .. })
    ));
}

// ------------------------------------------------------------------ negative tests

#[test]
fn flipped_message_bit_is_invalid_for_every_type() {
    for t in all_types() {
        let v = first_vector(t);
        let pk = key(t, v.get("key"));
        let mut msg = v.get("msg").to_vec();
        if msg.is_empty() {
            msg.push(0);
        } else {
            let last = msg.len() - 1;
            msg[last] ^= 0x01;
        }
        assert_eq!(
            pk.verify(&msg, v.get("sig")),
            Err(SignatureError::Invalid(t)),
            "{t:?}"
        );
    }
}

#[test]
fn flipped_signature_bit_is_invalid_for_every_type() {
    for t in all_types() {
        let v = first_vector(t);
        let pk = key(t, v.get("key"));
        let sig = v.get("sig");
        for pos in [0, 1, sig.len() / 2, sig.len() - 1] {
            for bit in [0x01u8, 0x80] {
                let mut bad = sig.to_vec();
                bad[pos] ^= bit;
                assert_eq!(
                    pk.verify(v.get("msg"), &bad),
                    Err(SignatureError::Invalid(t)),
                    "{t:?} byte {pos} bit {bit:#x}"
                );
            }
        }
    }
}

#[test]
fn wrong_lengths_are_typed_errors() {
    for t in all_types() {
        let v = first_vector(t);
        let k = v.get("key");
        for bad_len in [0, k.len() - 1, k.len() + 1] {
            let mut bad = k.to_vec();
            bad.resize(bad_len, 0x42);
            assert_eq!(
                SigningPublicKey::from_bytes(t, &bad).err(),
                Some(SignatureError::BadPublicKey {
                    sig_type: t,
                    why: "wrong length"
                }),
                "{t:?} key length {bad_len}"
            );
        }
        let pk = key(t, k);
        let sig = v.get("sig");
        for bad_len in [0, sig.len() - 1, sig.len() + 1, 2 * sig.len()] {
            let mut bad = sig.to_vec();
            bad.resize(bad_len, 0);
            assert_eq!(
                pk.verify(v.get("msg"), &bad),
                Err(SignatureError::BadSignatureLength {
                    sig_type: t,
                    got: bad_len,
                    expected: t.signature_len()
                }),
                "{t:?} signature length {bad_len}"
            );
        }
    }
}

fn is_bad_key(t: SigType, bytes: &[u8]) -> bool {
    matches!(
        SigningPublicKey::from_bytes(t, bytes),
        Err(SignatureError::BadPublicKey { sig_type, .. }) if sig_type == t
    )
}

#[test]
fn ecdsa_keys_off_the_curve_are_rejected() {
    for t in [
        SigType::EcdsaSha256P256,
        SigType::EcdsaSha384P384,
        SigType::EcdsaSha512P521,
    ] {
        let good = first_vector(t).get("key").to_vec();
        let mut off = good.clone();
        let last = off.len() - 1;
        off[last] ^= 0x01; // y changed by one: (x, y±1) is not on the curve
        assert!(is_bad_key(t, &off), "{t:?} y+-1");
        assert!(is_bad_key(t, &vec![0u8; good.len()]), "{t:?} (0,0)");
        assert!(
            is_bad_key(t, &vec![0xffu8; good.len()]),
            "{t:?} coordinates >= p"
        );
    }
}

/// The group order n of each curve, big-endian, at the raw field width.
fn curve_order(t: SigType) -> Vec<u8> {
    use p256::elliptic_curve::Curve;
    use p256::elliptic_curve::bigint::Encoding;
    match t {
        SigType::EcdsaSha256P256 => p256::NistP256::ORDER.to_be_bytes().to_vec(),
        SigType::EcdsaSha384P384 => p384::NistP384::ORDER.to_be_bytes().to_vec(),
        SigType::EcdsaSha512P521 => {
            let wide = p521::NistP521::ORDER.to_be_bytes();
            wide[wide.len() - 66..].to_vec()
        }
        _ => unreachable!(),
    }
}

#[test]
fn ecdsa_r_or_s_zero_or_not_below_order_is_invalid() {
    for t in [
        SigType::EcdsaSha256P256,
        SigType::EcdsaSha384P384,
        SigType::EcdsaSha512P521,
    ] {
        let v = first_vector(t);
        let pk = key(t, v.get("key"));
        let sig = v.get("sig");
        let half = sig.len() / 2;
        let n = curve_order(t);
        assert_eq!(n.len(), half);
        let zero = vec![0u8; half];
        let ones = vec![0xffu8; half];
        for (r, s) in [
            (&zero[..], &sig[half..]),
            (&sig[..half], &zero[..]),
            (&n[..], &sig[half..]),
            (&sig[..half], &n[..]),
            (&ones[..], &sig[half..]),
        ] {
            let bad = [r, s].concat();
            assert_eq!(
                pk.verify(v.get("msg"), &bad),
                Err(SignatureError::Invalid(t)),
                "{t:?}"
            );
        }
    }
}

fn dsa_q() -> Vec<u8> {
    unhex("a5dfc28fef4ca1e286744cd8eed9d29d684046b7")
}

fn add_be(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let v = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    (carry == 0).then_some(out)
}

#[test]
fn dsa_r_or_s_zero_or_not_below_q_is_invalid() {
    let t = SigType::DsaSha1;
    let q = dsa_q();
    let zero = [0u8; 20];
    for v in blocks(DSA_VECTORS) {
        let pk = key(t, v.get("key"));
        let sig = v.get("sig");
        let (r, s) = sig.split_at(20);
        let mut cases = vec![
            [&zero[..], s].concat(),
            [r, &zero[..]].concat(),
            [&q[..], s].concat(),
            [r, &q[..]].concat(),
        ];
        // s + q and r + q are the same residues mod q; they still must not verify.
        if let Some(s_plus_q) = add_be(s, &q) {
            cases.push([r, &s_plus_q[..]].concat());
        }
        if let Some(r_plus_q) = add_be(r, &q) {
            cases.push([&r_plus_q[..], s].concat());
        }
        for bad in cases {
            assert_eq!(
                pk.verify(v.get("msg"), &bad),
                Err(SignatureError::Invalid(t))
            );
        }
    }
}

#[test]
fn dsa_keys_outside_the_subgroup_are_rejected() {
    let t = SigType::DsaSha1;
    let p = unhex(
        "9c05b2aa960d9b97b8931963c9cc9e8c3026e9b8ed92fad0a69cc886d5bf8015fcadae31a0ad18fab3f01b00a358de237655c4964afaa2b337e96ad316b9fb1cc564b5aec5b69a9ff6c3e4548707fef8503d91dd8602e867e6d35d2235c1869ce2479c3b9d5401de04e0727fb33d6511285d4cf29538d9e3b6051f5b22cc1c93",
    );
    let mut p_minus_1 = p.clone();
    p_minus_1[127] -= 1; // p is odd, so no borrow
    let mut one = [0u8; 128];
    one[127] = 1;
    let mut two = [0u8; 128];
    two[127] = 2;
    for (what, y) in [
        ("0", vec![0u8; 128]),
        ("1", one.to_vec()),
        ("2", two.to_vec()),
        ("p-1", p_minus_1),
        ("p", p.clone()),
        ("ff..ff", vec![0xffu8; 128]),
    ] {
        assert!(is_bad_key(t, &y), "y = {what}");
    }
    // y * 2 for a valid y: 2 is not in the order-q subgroup, so 2y mod p is not either; if the
    // integer 2y is not below p it is rejected as a non-canonical encoding. Both must fail.
    let good = first_vector(t).get("key").to_vec();
    if let Some(doubled) = add_be(&good, &good) {
        assert!(is_bad_key(t, &doubled));
    }
}

#[test]
fn rsa_bad_moduli_and_signatures() {
    for t in [
        SigType::RsaSha2562048,
        SigType::RsaSha3843072,
        SigType::RsaSha5124096,
    ] {
        let v = first_vector(t);
        let n = v.get("key");
        let mut short = n.to_vec();
        short[0] = 0;
        assert!(is_bad_key(t, &short), "{t:?} leading zero");
        let mut even = n.to_vec();
        let last = even.len() - 1;
        even[last] &= 0xfe;
        assert!(is_bad_key(t, &even), "{t:?} even modulus");
        assert!(is_bad_key(t, &vec![0u8; n.len()]), "{t:?} zero modulus");
        let pk = key(t, n);
        // s >= n cannot be a signature.
        assert_eq!(
            pk.verify(v.get("msg"), &vec![0xffu8; n.len()]),
            Err(SignatureError::Invalid(t))
        );
        assert_eq!(
            pk.verify(v.get("msg"), &vec![0u8; n.len()]),
            Err(SignatureError::Invalid(t))
        );
    }
}

#[test]
fn rsa_explicit_exponent_entry_points() {
    use sha2::Digest;
    let e = [0x01, 0x00, 0x01];
    for (t, text) in [
        (SigType::RsaSha2562048, RSA2048_VECTORS),
        (SigType::RsaSha3843072, RSA3072_VECTORS),
        (SigType::RsaSha5124096, RSA4096_VECTORS),
    ] {
        for v in blocks(text) {
            let (n, msg, sig) = (v.get("key"), v.get("msg"), v.get("sig"));
            assert_eq!(rsa_pkcs1v15_verify(t, n, &e, msg, sig), Ok(()));
            // DER-style encodings: a leading zero on n and on e must not matter.
            let n_der = [&[0u8][..], n].concat();
            assert_eq!(
                rsa_pkcs1v15_verify(t, &n_der, &[0, 1, 0, 1], msg, sig),
                Ok(())
            );
            let digest = match t {
                SigType::RsaSha2562048 => sha2::Sha256::digest(msg).to_vec(),
                SigType::RsaSha3843072 => sha2::Sha384::digest(msg).to_vec(),
                _ => sha2::Sha512::digest(msg).to_vec(),
            };
            assert_eq!(rsa_pkcs1v15_verify_prehash(t, n, &e, &digest, sig), Ok(()));
            assert_eq!(
                rsa_pkcs1v15_verify_prehash(t, n, &e, &digest[1..], sig),
                Err(SignatureError::Invalid(t))
            );
            assert_eq!(
                rsa_pkcs1v15_verify(t, n, &[3], msg, sig),
                Err(SignatureError::Invalid(t))
            );
        }
        let v = first_vector(t);
        assert_eq!(
            rsa_pkcs1v15_verify(
                SigType::EdDsaSha512Ed25519,
                v.get("key"),
                &e,
                b"",
                v.get("sig")
            ),
            Err(SignatureError::Unsupported(SigType::EdDsaSha512Ed25519))
        );
        assert!(matches!(
            rsa_pkcs1v15_verify(t, v.get("key"), &e, b"", &v.get("sig")[1..]),
            Err(SignatureError::BadSignatureLength { .. })
        ));
    }
    // A SHA-256 signature under the 2048-bit key does not verify when claimed as SHA-512.
    let v = first_vector(SigType::RsaSha2562048);
    assert!(
        rsa_pkcs1v15_verify(
            SigType::RsaSha5124096,
            v.get("key"),
            &e,
            v.get("msg"),
            v.get("sig")
        )
        .is_err()
    );
}

#[test]
fn ed25519_family_rejects_non_points() {
    // y = 2 has no x on edwards25519 (x^2 = (y^2-1)/(d y^2+1) is a non-square).
    let mut y2 = [0u8; 32];
    y2[0] = 2;
    for t in [
        SigType::EdDsaSha512Ed25519,
        SigType::EdDsaSha512Ed25519ph,
        SigType::RedDsaSha512Ed25519,
    ] {
        assert!(is_bad_key(t, &y2), "{t:?}");
    }
}

// ------------------------------------------------------------------ ML-DSA (types 12-14)

/// Wycheproof signatures that must fail under I2P's rule: malformed hints (including the
/// repeated index ml-dsa 0.0.4 accepted), z at the norm bound, bit flips, the UseHint(1, 0)
/// forgery, and a signature that is valid only with a non-empty context.
#[test]
fn ml_dsa_wycheproof_invalid_vectors_are_rejected() {
    for (t, text) in [
        (SigType::MlDsa44, MLDSA44_INVALID),
        (SigType::MlDsa65, MLDSA65_INVALID),
        (SigType::MlDsa87, MLDSA87_INVALID),
    ] {
        let vectors = blocks(text);
        assert!(!vectors.is_empty(), "{t:?}");
        for (i, v) in vectors.iter().enumerate() {
            let pk = key(t, v.get("key"));
            assert_eq!(
                pk.verify(v.get("msg"), v.get("sig")),
                Err(SignatureError::Invalid(t)),
                "{t:?} invalid vector {i}"
            );
        }
    }
}

fn ml_dsa_round_trip<P: ::ml_dsa::MlDsaParams>(t: SigType) {
    let sk = MlDsaTestKey::<P>::from_seed([0x5c; 32]);
    let pub_bytes = sk.public_bytes();
    assert_eq!(pub_bytes.len(), t.public_key_len());
    let pk = key(t, &pub_bytes);
    assert_eq!(pk.sig_type(), t);
    let msg = b"floodgate ML-DSA round trip";
    // Hedged signing: two signatures of the same message differ, and both verify.
    let s1 = sk.sign(msg, [1; 32]);
    let s2 = sk.sign(msg, [2; 32]);
    assert_eq!(s1.len(), t.signature_len());
    assert_ne!(s1, s2);
    assert_eq!(pk.verify(msg, &s1), Ok(()), "{t:?}");
    assert_eq!(pk.verify(msg, &s2), Ok(()), "{t:?}");
    // Tampering with the message or the signature fails.
    assert_eq!(
        pk.verify(b"floodgate ML-DSA round trjp", &s1),
        Err(SignatureError::Invalid(t))
    );
    let mut bad = s1.clone();
    bad[40] ^= 0x04;
    assert_eq!(pk.verify(msg, &bad), Err(SignatureError::Invalid(t)));
    // Another key does not verify it.
    let other = key(t, &MlDsaTestKey::<P>::from_seed([0x5d; 32]).public_bytes());
    assert_eq!(other.verify(msg, &s1), Err(SignatureError::Invalid(t)));
}

/// Keys from fixed seeds, signed as proposal 169 says (hedged, pure, empty context).
#[test]
fn ml_dsa_round_trip_and_tamper() {
    ml_dsa_round_trip::<::ml_dsa::MlDsa44>(SigType::MlDsa44);
    ml_dsa_round_trip::<::ml_dsa::MlDsa65>(SigType::MlDsa65);
    ml_dsa_round_trip::<::ml_dsa::MlDsa87>(SigType::MlDsa87);
}

/// The verifier applies exactly the pure ML-DSA encoding with an empty context: a signature of
/// `M` itself (no `0x00 || 0x00` prefix, as with "message encoding" switched off), or with a
/// context, or of `0x01 || 0x00 || ...` (the HashML-DSA domain byte), does not verify as `M`.
#[test]
fn ml_dsa_message_encoding_is_pure_with_empty_context() {
    use ::ml_dsa::{MlDsa44, SigningKey};
    let t = SigType::MlDsa44;
    let sk = SigningKey::<MlDsa44>::from_seed(&[0x77; 32].into());
    let esk = sk.expanded_key();
    let pk = key(t, &esk.verifying_key().encode());
    let msg: &[u8] = b"I2P";
    let rnd = [9u8; 32].into();
    let sign = |parts: &[&[u8]]| esk.sign_internal(parts, &rnd).encode().to_vec();
    assert_eq!(pk.verify(msg, &sign(&[&[0, 0], msg])), Ok(()));
    for wrong in [
        sign(&[msg]),
        sign(&[&[0, 3], b"I2P", msg]),
        sign(&[&[1, 0], msg]),
    ] {
        assert_eq!(pk.verify(msg, &wrong), Err(SignatureError::Invalid(t)));
    }
}

#[test]
fn ml_dsa_hybrids_are_unsupported() {
    for (t, len) in [
        (SigType::MlDsa44EdDsaSha512Ed25519, 1344),
        (SigType::MlDsa65EdDsaSha512Ed25519, 1984),
        (SigType::MlDsa87EdDsaSha512Ed25519, 2624),
    ] {
        assert_eq!(t.public_key_len(), len);
        assert_eq!(
            SigningPublicKey::from_bytes(t, &vec![0; len]).err(),
            Some(SignatureError::Unsupported(t))
        );
        assert!(is_bad_key(t, &vec![0; len - 1]), "{t:?}");
    }
}

// ------------------------------------------------------------------ robustness

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Arbitrary bytes as key and signature, for every type: never a panic, only typed results.
    /// Half the cases use the exact lengths so the arithmetic paths are reached, not just the
    /// length checks.
    #[test]
    fn random_keys_and_signatures_never_panic(
        key_bytes in proptest::collection::vec(any::<u8>(), 0..600),
        sig_bytes in proptest::collection::vec(any::<u8>(), 0..600),
        msg in proptest::collection::vec(any::<u8>(), 0..64),
        exact_lengths in any::<bool>(),
    ) {
        for t in all_types() {
            let mut key_bytes = key_bytes.clone();
            let mut sig_bytes = sig_bytes.clone();
            if exact_lengths {
                key_bytes.resize(t.public_key_len(), 0x5a);
                sig_bytes.resize(t.signature_len(), 0xa5);
            }
            match SigningPublicKey::from_bytes(t, &key_bytes) {
                Ok(pk) => {
                    prop_assert_eq!(pk.sig_type(), t);
                    let _ = pk.verify(&msg, &sig_bytes);
                }
                Err(SignatureError::BadPublicKey { sig_type, .. }) => prop_assert_eq!(sig_type, t),
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
            let e = &sig_bytes[..sig_bytes.len().min(8)];
            let _ = rsa_pkcs1v15_verify(t, &key_bytes, e, &msg, &sig_bytes);
            let _ = rsa_pkcs1v15_verify_prehash(t, &key_bytes, e, &msg, &sig_bytes);
        }
        let _ = blind_public_key(&key_bytes, &[0x11; 32]);
    }

    /// Random signatures under real keys: verification fails cleanly (a forgery is negligible).
    /// The seed is repeated to the longest signatures (ML-DSA-87's 4627 bytes).
    #[test]
    fn random_signatures_under_real_keys_are_invalid(
        seed in proptest::collection::vec(any::<u8>(), 512),
    ) {
        for (t, v, pk) in first_keys() {
            let t = *t;
            let sig: Vec<u8> = seed.iter().copied().cycle().take(t.signature_len()).collect();
            prop_assert_eq!(pk.verify(v.get("msg"), &sig), Err(SignatureError::Invalid(t)));
        }
    }
}

//! Known answers from a real router: garlic messages i2pd 2.45.1 sent to floodgate
//! (tests/data/garlic/i2pd-2.45.1.txt) open with floodgate's router key, and their cloves carry
//! the messages i2pd meant: a signed LeaseSet2 publication, a lookup of that LeaseSet and a
//! tunnel build. Tampering, replay and the DateTime window are checked on the same bytes.

use floodgate::crypto::ecies_router::{
    GarlicError, GarlicKeys, MAX_AGE_SECS, ReplayGuard, open_router_garlic,
};
use floodgate::wire::garlic::DeliveryInstructions;
use floodgate::wire::i2np::{I2npBody, LookupType, MessageType, ReplyEncryption, StoreKind};
use floodgate::wire::{Date, LeaseSet2, Reader};
use x25519_dalek::{PublicKey, StaticSecret};

const CAPTURE: &str = include_str!("data/garlic/i2pd-2.45.1.txt");

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

struct Capture {
    secret: [u8; 32],
    /// (name, received_ms, garlic content)
    garlics: Vec<(String, u64, Vec<u8>)>,
}

fn capture() -> Capture {
    let mut secret = None;
    let mut garlics = Vec::new();
    for line in CAPTURE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["router_encryption_secret", hex] => {
                secret = Some(unhex(hex).try_into().expect("32-byte secret"))
            }
            ["garlic", name, ms, hex] => {
                garlics.push((name.to_string(), ms.parse().expect("ms"), unhex(hex)))
            }
            _ => panic!("unexpected capture line: {line}"),
        }
    }
    Capture {
        secret: secret.expect("secret line"),
        garlics,
    }
}

fn get<'a>(c: &'a Capture, name: &str) -> (u64, &'a [u8]) {
    let (_, ms, data) = c
        .garlics
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} capture"));
    (*ms, data)
}

#[test]
fn i2pd_leaseset_publication_opens_and_verifies() {
    let c = capture();
    let keys = GarlicKeys::new(c.secret);
    let (ms, data) = get(&c, "database_store");
    let cloves = keys.open(data, ms).expect("i2pd's garlic opens");
    assert_eq!(cloves.len(), 1, "i2pd sends one clove per router garlic");
    let clove = &cloves[0];
    assert_eq!(clove.delivery, DeliveryInstructions::Local);
    assert_eq!(clove.delay, None);
    assert_eq!(clove.header.msg_type, MessageType::DatabaseStore.code());
    // i2pd sets message expirations a few seconds ahead.
    assert!(u64::from(clove.header.expiration_s) * 1000 > ms);

    let body = I2npBody::parse(MessageType::DatabaseStore, &mut Reader::new(&clove.body))
        .expect("DatabaseStore parses");
    let I2npBody::DatabaseStore(store) = body else {
        unreachable!()
    };
    assert_eq!(store.kind, StoreKind::LeaseSet2);
    // Publications ask for a DeliveryStatus through the destination's inbound tunnel.
    let reply = store
        .reply
        .expect("publication asks for an acknowledgement");
    assert_ne!(reply.token.get(), 0);
    let ls = LeaseSet2::parse(&store.data)
        .expect("LeaseSet2 parses")
        .verify(Date::from_millis(ms))
        .expect("i2pd's LeaseSet2 signature verifies");
    assert_eq!(ls.store_key(), store.key);
    assert!(!ls.leases().is_empty());

    // The same bytes again are a replay; a fresh guard at a later time finds them stale.
    assert_eq!(keys.open(data, ms + 1000), Err(GarlicError::Replay));
    let s = StaticSecret::from(c.secret);
    let p = PublicKey::from(&s).to_bytes();
    let late = ms + (MAX_AGE_SECS + 5) * 1000;
    assert!(matches!(
        open_router_garlic(&s, &p, data, late, &ReplayGuard::default()),
        Err(GarlicError::Stale { .. })
    ));
    // Any flipped bit (key, ciphertext or tag) fails authentication.
    for i in [0, 31, 32, data.len() / 2, data.len() - 1] {
        let mut bad = data.to_vec();
        bad[i] ^= 0x40;
        let e = open_router_garlic(&s, &p, &bad, ms, &ReplayGuard::default()).unwrap_err();
        assert!(
            matches!(e, GarlicError::Aead | GarlicError::WeakKey),
            "flip at {i}: {e}"
        );
    }
    // Another router's key does not open it.
    let other = GarlicKeys::new([7; 32]);
    assert_eq!(other.open(data, ms), Err(GarlicError::Aead));
}

#[test]
fn i2pd_leaseset_lookup_opens_and_asks_for_an_ecies_reply() {
    let c = capture();
    let keys = GarlicKeys::new(c.secret);
    let (ms_store, store_data) = get(&c, "database_store");
    let store_key = {
        let cl = keys.open(store_data, ms_store).unwrap();
        let I2npBody::DatabaseStore(s) =
            I2npBody::parse(MessageType::DatabaseStore, &mut Reader::new(&cl[0].body)).unwrap()
        else {
            unreachable!()
        };
        s.key
    };
    let (ms, data) = get(&c, "database_lookup");
    let cloves = keys.open(data, ms).expect("i2pd's lookup garlic opens");
    assert_eq!(cloves.len(), 1);
    assert_eq!(cloves[0].delivery, DeliveryInstructions::Local);
    let I2npBody::DatabaseLookup(lookup) = I2npBody::parse(
        MessageType::DatabaseLookup,
        &mut Reader::new(&cloves[0].body),
    )
    .expect("DatabaseLookup parses") else {
        panic!("not a lookup")
    };
    assert_eq!(lookup.key, store_key, "looks up the published LeaseSet");
    assert_eq!(lookup.lookup_type, LookupType::LeaseSet);
    assert!(
        lookup.reply_tunnel.is_some(),
        "reply goes to an inbound tunnel"
    );
    assert!(matches!(
        lookup.reply_encryption,
        ReplyEncryption::Ecies { .. }
    ));
}

#[test]
fn i2pd_tunnel_build_garlic_opens() {
    let c = capture();
    let keys = GarlicKeys::new(c.secret);
    let (ms, data) = get(&c, "short_tunnel_build");
    let cloves = keys.open(data, ms).expect("opens");
    assert_eq!(cloves.len(), 1);
    assert_eq!(cloves[0].delivery, DeliveryInstructions::Local);
    assert_eq!(
        cloves[0].header.msg_type,
        MessageType::ShortTunnelBuild.code()
    );
    let body = I2npBody::parse(
        MessageType::ShortTunnelBuild,
        &mut Reader::new(&cloves[0].body),
    )
    .expect("ShortTunnelBuild parses");
    assert_eq!(body.msg_type(), MessageType::ShortTunnelBuild);
}

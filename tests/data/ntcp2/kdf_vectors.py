#!/usr/bin/env python3
"""Independent NTCP2 KDF values for floodgate's known-answer tests.

Uses only hashlib/hmac plus a textbook X25519 (RFC 7748 section 5 ladder) and SipHash-2-4
(reference paper), each checked against its published test vector first. Written from
ntcp2.rst, not from any implementation. Run: python3 kdf_vectors.py > kdf_vectors.txt
The Rust test `transport::ntcp2::tests::python_*` reads kdf_vectors.txt.
"""
import hashlib
import hmac

P = 2**255 - 19
A24 = 121665
M64 = (1 << 64) - 1


def x25519(k: bytes, u: bytes) -> bytes:
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    u = bytearray(u)
    u[31] &= 127
    x1 = int.from_bytes(u, "little") % P
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = x2 + z2, x2 - z2
        aa, bb = a * a, b * b
        e = aa - bb
        c, d = x3 + z3, x3 - z3
        da, cb = d * a, c * b
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + A24 * e) % P
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def x25519_pub(k: bytes) -> bytes:
    return x25519(k, (9).to_bytes(32, "little"))


def siphash24(k0: int, k1: int, data: bytes) -> int:
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & M64

    def rnd():
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & M64; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
        v2 = (v2 + v3) & M64; v3 = rotl(v3, 16); v3 ^= v2
        v0 = (v0 + v3) & M64; v3 = rotl(v3, 21); v3 ^= v0
        v2 = (v2 + v1) & M64; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)

    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m
        rnd(); rnd()
        v0 ^= m
    last = (len(data) & 0xFF) << 56
    last |= int.from_bytes(data[end:], "little")
    v3 ^= last
    rnd(); rnd()
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(4):
        rnd()
    return v0 ^ v1 ^ v2 ^ v3


def H(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def HMAC(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def hkdf2(ck: bytes, ikm: bytes):
    temp = HMAC(ck, ikm)
    o1 = HMAC(temp, b"\x01")
    o2 = HMAC(temp, o1, b"\x02")
    return o1, o2


# --- self-checks against published vectors --------------------------------------------------
assert x25519(
    bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
    bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"  # RFC 7748 5.2
assert x25519_pub(
    bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
).hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"  # RFC 7748 6.1
assert siphash24(
    0x0706050403020100, 0x0F0E0D0C0B0A0908, bytes(range(15))
) == 0xA129CA6149BE45E5  # SipHash paper, appendix A

out = []


def emit(name: str, value: bytes):
    out.append(f"{name}={value.hex()}")


# --- KDF for message 1: protocol name, null prologue, MixHash(rs), MixHash(X), es ------------
bob_static = bytes(range(0x01, 0x21))
alice_ephemeral = bytes(range(0x21, 0x41))
rs = x25519_pub(bob_static)
x = x25519_pub(alice_ephemeral)

name = b"Noise_XKaesobfse+hs2+hs3_25519_ChaChaPoly_SHA256"
assert len(name) == 48
h = H(name)
ck = h
emit("bob_static_private", bob_static)
emit("alice_ephemeral_private", alice_ephemeral)
emit("rs", rs)
emit("x", x)
emit("h_init", h)
emit("ck_init", ck)
h = H(h)  # MixHash(null prologue)
emit("h_prologue", h)
h = H(h, rs)  # MixHash(rs)
emit("h_rs", h)
h = H(h, x)  # MixHash(e.pubkey)
emit("h_x", h)
es = x25519(alice_ephemeral, rs)
assert es == x25519(bob_static, x)  # DH(e, rs) == DH(s, re)
emit("es", es)
ck, k = hkdf2(ck, es)  # MixKey(DH())
emit("ck_es", ck)
emit("k_es", k)

# --- data-phase KDF from fixed ck and h ------------------------------------------------------
ck = bytes([0xA5]) * 32
h = bytes([0x5A]) * 32
emit("dp_ck", ck)
emit("dp_h", h)
temp = HMAC(ck, b"")
k_ab = HMAC(temp, b"\x01")
k_ba = HMAC(temp, k_ab, b"\x02")
ask_master = HMAC(temp, b"ask", b"\x01")
temp = HMAC(ask_master, h, b"siphash")
sip_master = HMAC(temp, b"\x01")
temp = HMAC(sip_master, b"")
sipkeys_ab = HMAC(temp, b"\x01")
sipkeys_ba = HMAC(temp, sipkeys_ab, b"\x02")
emit("k_ab", k_ab)
emit("k_ba", k_ba)
emit("ask_master", ask_master)
emit("sipkeys_ab", sipkeys_ab)
emit("sipkeys_ba", sipkeys_ba)

# --- SipHash length masks: first three frames Alice->Bob --------------------------------------
k1 = int.from_bytes(sipkeys_ab[0:8], "little")
k2 = int.from_bytes(sipkeys_ab[8:16], "little")
iv = sipkeys_ab[16:24]
masks = []
for _ in range(3):
    v = siphash24(k1, k2, iv)
    iv = v.to_bytes(8, "little")
    masks.append(v & 0xFFFF)
emit("masks_ab", b"".join(m.to_bytes(2, "big") for m in masks))
# obfuscated length of a 100-byte frame (84 payload + MAC) as the first frame
emit("obf_len_100_first", (100 ^ masks[0]).to_bytes(2, "big"))

print("\n".join(out))

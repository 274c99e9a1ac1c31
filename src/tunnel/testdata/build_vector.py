#!/usr/bin/env python3
"""Independent test vectors for tunnel build record crypto (tunnel-creation-ecies.rst), written
from the spec with the Python `cryptography` package only. The Rust hop (build.rs tests) must
decrypt these records, derive the same keys and produce byte-identical reply records.

Output: key=hex lines (build_vector.txt)."""
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization
import hashlib, struct

def sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()

def hkdf(salt, ikm, info):
    out = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=info).derive(ikm)
    return out[:32], out[32:]

def raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def nonce(n):
    return b"\0\0\0\0" + struct.pack("<Q", n)

def chacha20(key, n, data):
    # cryptography's ChaCha20 takes a 16-byte "nonce" = 4-byte LE counter || 12-byte nonce.
    # The counter starts at 1, as in i2pd's and Java I2P's raw ChaCha20 (RFC 7539 keeps
    # block 0 for the Poly1305 key); a vector with counter 0 hid an interop bug once.
    c = Cipher(algorithms.ChaCha20(key, struct.pack("<I", 1) + nonce(n)), mode=None).encryptor()
    return c.update(data)

def aes_cbc(key, iv, data):
    c = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return c.update(data) + c.finalize()

hop_sk = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
hop_pk = raw(hop_sk.public_key())
hop_hash = sha(b"hop identity")

def encrypt_record(eph_secret, clear):
    name = b"Noise_N_25519_ChaChaPoly_SHA256"
    h = name + b"\0"
    ck = h
    h = sha(h)
    h = sha(h, hop_pk)
    esk = X25519PrivateKey.from_private_bytes(eph_secret)
    epk = raw(esk.public_key())
    h = sha(h, epk)
    shared = esk.exchange(X25519PublicKey.from_public_bytes(hop_pk))
    ck, k = hkdf(ck, shared, b"")
    ct = ChaCha20Poly1305(k).encrypt(nonce(0), clear, h)
    h = sha(h, ct)
    return hop_hash[:16] + epk + ct, ck, h

def short_clear(flags):
    c = struct.pack(">II", 0x11223344, 0x55667788) + bytes(range(32)) + bytes([flags, 0, 0, 0])
    c += struct.pack(">III", 28_000_000, 600, 0x0BADF00D) + b"\0\0"
    return c + bytes((7 * i) % 256 for i in range(154 - len(c)))

out = {}
out["hop_secret"] = bytes(range(1, 33))
out["hop_hash"] = hop_hash
other = bytes([0xAA]) * 218

# Short record, participant, our record at index 1 of 2.
rec, ck, h = encrypt_record(bytes(range(0x21, 0x41)), short_clear(0))
ck2, reply_key = hkdf(ck, b"", b"SMTunnelReplyKey")
ck3, layer_key = hkdf(ck2, b"", b"SMTunnelLayerKey")
iv_key = ck3
out["short_part_msg"] = bytes([2]) + other + rec
out["short_part_layer_key"] = layer_key
out["short_part_iv_key"] = iv_key
reply_clear = b"\0" * 201 + bytes([0])  # empty options, zero padding, accept
out["short_part_reply_msg"] = bytes([2]) + chacha20(reply_key, 0, other) + \
    ChaCha20Poly1305(reply_key).encrypt(nonce(1), reply_clear, h)

# Short record, OBEP, index 0 of 1: IV key and garlic key/tag come from longer chains.
rec, ck, h = encrypt_record(bytes(range(0x41, 0x61)), short_clear(0x40))
ck2, reply_key = hkdf(ck, b"", b"SMTunnelReplyKey")
ck3, layer_key = hkdf(ck2, b"", b"SMTunnelLayerKey")
ck4, iv_key = hkdf(ck3, b"", b"TunnelLayerIVKey")
tag_half, garlic_key = hkdf(ck4, b"", b"RGarlicKeyAndTag")
out["short_obep_msg"] = bytes([1]) + rec
out["short_obep_layer_key"] = layer_key
out["short_obep_iv_key"] = iv_key
out["short_obep_garlic_key"] = garlic_key
out["short_obep_garlic_tag"] = tag_half[:8]
reply_clear = b"\0" * 201 + bytes([30])  # rejected
out["short_obep_reply_msg"] = bytes([1]) + \
    ChaCha20Poly1305(reply_key).encrypt(nonce(0), reply_clear, h)

# Long record, participant, index 0 of 2; other records get AES-256-CBC with the reply key/IV.
lc = struct.pack(">II", 0x11223344, 0x55667788) + bytes(range(32))
lc += bytes([0x61]) * 32 + bytes([0x62]) * 32 + bytes([0x63]) * 32 + bytes([0x64]) * 16
lc += bytes([0, 0, 0, 0]) + struct.pack(">III", 28_000_000, 600, 0x0BADF00D) + b"\0\0"
lc += bytes((3 * i) % 256 for i in range(464 - len(lc)))
rec, ck, h = encrypt_record(bytes(range(0x61, 0x81)), lc)
other = bytes([0xBB]) * 528
out["long_msg"] = bytes([2]) + rec + other
reply_clear = b"\0" * 511 + bytes([0])
out["long_reply_msg"] = bytes([2]) + ChaCha20Poly1305(ck).encrypt(nonce(0), reply_clear, h) + \
    aes_cbc(bytes([0x63]) * 32, bytes([0x64]) * 16, other)

for k, v in out.items():
    print(f"{k}={v.hex()}")

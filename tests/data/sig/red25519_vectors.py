#!/usr/bin/env python3
"""RedDSA_SHA512_Ed25519 (sig type 11) vectors, made independently of floodgate's Rust code.

Only hashlib and integer arithmetic (Edwards25519 in extended coordinates). Run once; the output
is committed as reddsa.txt. Deterministic: the 80 "random" bytes T of each signature are derived
from a label, so a rerun reproduces the file byte for byte.

Which Red25519 is signed here: the one deployed routers implement (Java I2P RedDSAEngine, i2pd
Ed25519::SignRedDSA, spec encryptedleaseset.rst "Sign/Verify Calculations"):
    r = SHA-512(T || A || M) mod L,  R = [r]B,  c = SHA-512(R || A || M) mod L,
    S = (r + c*a) mod L,  signature = R || S,  verification identical to Ed25519.
The private scalar a is a uniform value mod L, NOT a clamped Ed25519 scalar; that difference and
the random nonce are the only changes from Ed25519.

red25519.rst (proposal 146) describes a different hash, SHA-512("I2P_Red25519H(x)" || p1 || p2 ||
len_u16le(M) || M). Its published vectors use that hash; `--check-spec` recomputes them to show
it, and shows that they do NOT verify as Ed25519 (which is all Java I2P and i2pd check).

With `--openssl`, every emitted vector is also verified with `openssl pkeyutl -verify` as an
Ed25519 signature (an independent verifier).
"""
import hashlib
import os
import subprocess
import sys
import tempfile

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def inv(x):
    return pow(x, P - 2, P)


def x_from_y(y, sign):
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x2 = u * inv(v) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return x


BY = 4 * inv(5) % P
BX = x_from_y(BY, 0)
BASE = (BX, BY, 1, BX * BY % P)
IDENTITY = (0, 1, 1, 0)


def add(p1, p2):
    # Extended twisted Edwards addition (a = -1), "add-2008-hwcd-3".
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(k, pt):
    acc = IDENTITY
    while k:
        if k & 1:
            acc = add(acc, pt)
        pt = add(pt, pt)
        k >>= 1
    return acc


def encode(pt):
    x, y, z, _ = pt
    zi = inv(z)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(b):
    v = int.from_bytes(b, "little")
    y = v & ((1 << 255) - 1)
    x = x_from_y(y, v >> 255)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def same(p1, p2):
    return (p1[0] * p2[2] - p2[0] * p1[2]) % P == 0 and (p1[1] * p2[2] - p2[1] * p1[2]) % P == 0


def h_mod_l(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % L


def label_scalar(label, i):
    return h_mod_l(label.encode(), i.to_bytes(4, "big"))


def label_bytes(label, i, n):
    out = b""
    ctr = 0
    while len(out) < n:
        out += hashlib.sha512(label.encode() + i.to_bytes(4, "big") + bytes([ctr])).digest()
        ctr += 1
    return out[:n]


def sign_deployed(a, msg, t):
    A = encode(mul(a, BASE))
    r = h_mod_l(t, A, msg)
    R = encode(mul(r, BASE))
    c = h_mod_l(R, A, msg)
    S = (r + c * a) % L
    return R + S.to_bytes(32, "little")


def verify_ed25519(pub, msg, sig):
    """Cofactorless Ed25519 check, as Java EdDSAEngine does: encode([S]B - [c]A) == R."""
    A = decode(pub)
    if A is None:
        return False
    S = int.from_bytes(sig[32:], "little")
    if S >= L:
        return False
    c = h_mod_l(sig[:32], pub, msg)
    negA = ((P - A[0]) % P, A[1], A[2], (P - A[3]) % P)
    return encode(add(mul(S, BASE), mul(c, negA))) == sig[:32]


def verify_spec_hstar(pub, msg, sig):
    """red25519.rst VERIFY with its personalised, length-prefixed HStar."""
    A = decode(pub)
    R = decode(sig[:32])
    if A is None or R is None:
        return False
    S = int.from_bytes(sig[32:], "little")
    if S >= L:
        return False
    c = h_mod_l(b"I2P_Red25519H(x)", sig[:32], pub, len(msg).to_bytes(2, "little"), msg)
    lhs = mul(8, mul(S, BASE))
    rhs = mul(8, add(R, mul(c, A)))
    return same(lhs, rhs)


def openssl_verify(pub, msg, sig):
    spki = bytes.fromhex("302a300506032b6570032100") + pub
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("pub.der", "pub.pem", "msg", "sig")}
        for n, data in (("pub.der", spki), ("msg", msg), ("sig", sig)):
            with open(paths[n], "wb") as f:
                f.write(data)
        subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-in", paths["pub.der"],
                        "-out", paths["pub.pem"]], check=True, capture_output=True)
        res = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["pub.pem"],
                              "-rawin", "-in", paths["msg"], "-sigfile", paths["sig"]],
                             capture_output=True)
        return res.returncode == 0


# red25519.rst test vector 1 (vk, msg, sig, alpha, rvk, rsig), copied from the spec.
SPEC_V1 = dict(
    vk="8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
    msg="0202020202020202020202020202020202020202020202020202020202020202",
    sig="61f5527f4d3b46de4b2c234390370bf715ae9098907a0d191ba1b44b23a8ac1a"
        "6a40437a5294e9503faaf9bd2b7f2fe7ba44dec487b3185aba7ff7d7a17cd40f",
    alpha="ae9ba9cbbc047c442448fca7c9f4e288a202ed520bfad0c784b792b7773cee08",
    rvk="6fe128737b8e76fa66698a748b0dc0a89168dd8a0601c2b1c0b26835d323e9b3",
    rsig="533053074d3b44f08723aab988ede9880a001b7a684d4a98f2d1b88fabee07a5"
         "b5c9430c69a690321e0cb8365d7aeb6688bcbad2c0780e0c69e8a1b4a45f3001",
)


def check_spec():
    v = {k: bytes.fromhex(s) for k, s in SPEC_V1.items()}
    print("red25519.rst vector 1, sig  under spec HStar :", verify_spec_hstar(v["vk"], v["msg"], v["sig"]))
    print("red25519.rst vector 1, rsig under spec HStar :", verify_spec_hstar(v["rvk"], v["msg"], v["rsig"]))
    print("red25519.rst vector 1, sig  as plain Ed25519 :", verify_ed25519(v["vk"], v["msg"], v["sig"]))
    alpha = int.from_bytes(v["alpha"], "little")
    rvk = encode(add(decode(v["vk"]), mul(alpha, BASE)))
    print("red25519.rst vector 1, vk + [alpha]B == rvk  :", rvk == v["rvk"])


def main():
    if "--check-spec" in sys.argv:
        check_spec()
        return
    use_openssl = "--openssl" in sys.argv
    lengths = [0, 1, 32, 100, 1000]
    out = [
        "# RedDSA_SHA512_Ed25519 (sig type 11) vectors from red25519_vectors.py (hashlib + integers).",
        "# Deployed construction: r = SHA-512(T||A||M) mod L with T 80 bytes, a uniform mod L.",
        "# Blocks with 'alpha' sign with the blinded key a' = a + alpha; 'key' is then A' = A + [alpha]B",
        "# and 'unblinded' is A.",
        "",
    ]
    for i, n in enumerate(lengths, start=1):
        a = label_scalar("floodgate red25519 a", i)
        msg = label_bytes("floodgate red25519 msg", i, n)
        t = label_bytes("floodgate red25519 T", i, 80)
        pub = encode(mul(a, BASE))
        sig = sign_deployed(a, msg, t)
        assert verify_ed25519(pub, msg, sig)
        # The OpenSSL 3.0 CLI refuses an empty -rawin input, so the empty message is checked by
        # verify_ed25519 above only.
        if use_openssl and n > 0:
            assert openssl_verify(pub, msg, sig), "openssl rejected vector %d" % i
        out += ["# vector %d, %d-byte message" % (i, n), "key " + pub.hex(), "msg " + msg.hex(),
                "sig " + sig.hex(), ""]
    for i in (1, 2):
        a = label_scalar("floodgate red25519 blind a", i)
        alpha = label_scalar("floodgate red25519 alpha", i)
        msg = label_bytes("floodgate red25519 blind msg", i, 64)
        t = label_bytes("floodgate red25519 blind T", i, 80)
        pub = encode(mul(a, BASE))
        blinded = encode(add(decode(pub), mul(alpha, BASE)))
        assert blinded == encode(mul((a + alpha) % L, BASE))
        sig = sign_deployed((a + alpha) % L, msg, t)
        assert verify_ed25519(blinded, msg, sig)
        if use_openssl:
            assert openssl_verify(blinded, msg, sig), "openssl rejected blinded vector %d" % i
        out += ["# blinded vector %d" % i, "unblinded " + pub.hex(),
                "alpha " + alpha.to_bytes(32, "little").hex(), "key " + blinded.hex(),
                "msg " + msg.hex(), "sig " + sig.hex(), ""]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()

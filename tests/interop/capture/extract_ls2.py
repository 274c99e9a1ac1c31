#!/usr/bin/env python3
"""Pick out of sigtap logs the LeaseSet2 that an i2pd client destination published.

A record qualifies only when all of these hold:
  * a floodfill router of the testnet VERIFIED it with result 1 (so it arrived in a
    DatabaseStore and i2pd accepted it),
  * the client router SIGNED exactly the same bytes (so it is what the i2pd client
    destination produced, not something rebuilt),
  * it parses completely as a LeaseSet2 (common-structures.rst), with nothing left over,
    its Destination is the one SAM returned, it is not flagged unpublished,
  * its Ed25519 signature verifies with the openssl command line tool (independently of i2pd).

The LeaseSet2 bytes are the signed data without its first byte (the DatabaseStore type, 3,
which the signature covers but the LeaseSet2 does not contain) followed by the signature.

Exit status: 0 written, 3 no qualifying record yet, 1 error.
"""

import argparse
import base64
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

I2P_B64 = bytes.maketrans(b"-~", b"+/")
# signature type -> (public key length, signature length); only what a test capture needs
SIG_TYPES = {7: (32, 64)}
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def i2p_b64decode(s: str) -> bytes:
    return base64.b64decode(s.encode().translate(I2P_B64))


def b32(h: bytes) -> str:
    return base64.b32encode(h).decode().lower().rstrip("=")


class Parse:
    def __init__(self, data: bytes):
        self.d = data
        self.o = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.o + n > len(self.d):
            raise ValueError(f"{what}: needs {n} bytes at offset {self.o}, have {len(self.d) - self.o}")
        b = self.d[self.o : self.o + n]
        self.o += n
        return b

    def u(self, n: int, what: str) -> int:
        return int.from_bytes(self.take(n, what), "big")


def destination_len(buf: bytes) -> int:
    if len(buf) < 387:
        raise ValueError("destination shorter than 387 bytes")
    return 387 + int.from_bytes(buf[385:387], "big")


def parse_ls2(ls: bytes) -> dict:
    p = Parse(ls)
    dest = p.take(destination_len(ls), "destination")
    cert_type = dest[384]
    if cert_type != 5:
        raise ValueError(f"destination certificate type {cert_type}, expected a key certificate (5)")
    sig_type = int.from_bytes(dest[387:389], "big")
    crypto_type = int.from_bytes(dest[389:391], "big")
    if sig_type not in SIG_TYPES:
        raise ValueError(f"signature type {sig_type} not handled by this tool")
    pub_len, sig_len = SIG_TYPES[sig_type]
    published = p.u(4, "published")
    expires = p.u(2, "expires")
    flags = p.u(2, "flags")
    if flags & 1:
        raise ValueError("offline-signed LeaseSet2: not handled by this tool")
    props_len = p.u(2, "properties length")
    props = p.take(props_len, "properties")
    numk = p.u(1, "number of keys")
    keys = []
    for i in range(numk):
        kt = p.u(2, f"key {i} type")
        kl = p.u(2, f"key {i} length")
        p.take(kl, f"key {i}")
        keys.append((kt, kl))
    num = p.u(1, "number of leases")
    leases = []
    for i in range(num):
        gw = p.take(32, f"lease {i} gateway")
        tid = p.u(4, f"lease {i} tunnel id")
        end = p.u(4, f"lease {i} end date")
        leases.append((gw, tid, end))
    body_end = p.o
    sig = p.take(sig_len, "signature")
    if p.o != len(ls):
        raise ValueError(f"{len(ls) - p.o} bytes left after the signature")
    return {
        "dest": dest,
        "dest_hash": hashlib.sha256(dest).digest(),
        "sig_type": sig_type,
        "crypto_type": crypto_type,
        "signing_key": dest[384 - pub_len : 384],
        "published": published,
        "expires": expires,
        "flags": flags,
        "props": props,
        "keys": keys,
        "leases": leases,
        "body_end": body_end,
        "sig": sig,
    }


def openssl_ed25519_verify(pub: bytes, data: bytes, sig: bytes) -> bool:
    with tempfile.TemporaryDirectory() as t:
        pem = os.path.join(t, "pub.pem")
        with open(pem, "w") as f:
            f.write("-----BEGIN PUBLIC KEY-----\n")
            f.write(base64.b64encode(ED25519_SPKI_PREFIX + pub).decode() + "\n")
            f.write("-----END PUBLIC KEY-----\n")
        for name, content in (("data", data), ("sig", sig)):
            with open(os.path.join(t, name), "wb") as f:
                f.write(content)
        r = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
             "-in", os.path.join(t, "data"), "-sigfile", os.path.join(t, "sig")],
            capture_output=True,
        )
        return r.returncode == 0


def records(path: str):
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 4 or parts[3] == "-":
                    continue
                op, rc, tbs, sig = parts
                try:
                    yield op, int(rc), bytes.fromhex(tbs), bytes.fromhex(sig)
                except ValueError:
                    continue
    except FileNotFoundError:
        return


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="testnet directory")
    ap.add_argument("--client", type=int, required=True, help="router K that hosts the client destination")
    ap.add_argument("--floodfills", type=int, required=True, help="routers 1..N are floodfills")
    ap.add_argument("--sam-reply", required=True, help="file holding the SAM 'SESSION STATUS' reply")
    ap.add_argument("--min-leases", type=int, default=1, help="only LeaseSet2s with at least this many leases")
    ap.add_argument("--out", required=True, help="where to write the LeaseSet2")
    a = ap.parse_args()

    reply = open(a.sam_reply).read().split()
    privkeys = next((w[len("DESTINATION="):] for w in reply if w.startswith("DESTINATION=")), None)
    if not privkeys or "RESULT=OK" not in reply:
        print(f"no successful SAM reply in {a.sam_reply}", file=sys.stderr)
        return 1
    pk = i2p_b64decode(privkeys)
    want = hashlib.sha256(pk[: destination_len(pk)]).digest()

    signed = {(tbs, sig) for op, rc, tbs, sig in records(os.path.join(a.dir, f"r{a.client}", "sigtap.log"))
              if op == "SIGN" and rc == 1}
    best = None
    for k in range(1, a.floodfills + 1):
        for op, rc, tbs, sig in records(os.path.join(a.dir, f"r{k}", "sigtap.log")):
            if op != "VERIFY" or rc != 1 or tbs[:1] != b"\x03" or (tbs, sig) not in signed:
                continue
            ls = tbs[1:] + sig
            try:
                info = parse_ls2(ls)
            except ValueError:
                continue
            if info["dest_hash"] != want or info["flags"] & 2 or len(info["leases"]) < a.min_leases:
                continue
            if info["body_end"] != len(tbs) - 1:
                continue
            if not openssl_ed25519_verify(info["signing_key"], tbs, sig):
                print("a record verified by i2pd fails openssl verification", file=sys.stderr)
                return 1
            # the newest one (latest published time) wins
            if best is None or info["published"] > best[1]["published"]:
                best = (ls, info, k)
    if best is None:
        return 3
    ls, info, k = best
    with open(a.out, "wb") as f:
        f.write(ls)
    keys = ",".join(f"type {t} ({l} bytes)" for t, l in info["keys"])
    print(f"{os.path.basename(a.out)}: {len(ls)} bytes, destination {b32(info['dest_hash'])}.b32.i2p, "
          f"sig type {info['sig_type']}, published {info['published']}, expires +{info['expires']}s, "
          f"flags {info['flags']:#x}, keys {keys}, {len(info['leases'])} leases; "
          f"signed by router {a.client}, verified by floodfill router {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

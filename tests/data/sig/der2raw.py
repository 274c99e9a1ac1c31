#!/usr/bin/env python3
"""Convert OpenSSL DER outputs to I2P's raw formats (stdlib only).

Used by gen_openssl_vectors.sh. Sub-commands (input DER on stdin, hex on stdout):

  sig <n>        DER SEQUENCE { INTEGER r, INTEGER s } -> r||s, each left-padded to n bytes
  ecpub <n>      EC SubjectPublicKeyInfo -> x||y (the 0x04 prefix dropped), each n bytes
  dsapub <n>     DSA SubjectPublicKeyInfo -> y left-padded to n bytes
  edpub          Ed25519 SubjectPublicKeyInfo -> the 32-byte little-endian key
  dsaparams      (no stdin) write the DER Dss-Parms of I2P's DSA group to stdout (binary)
  short <n> <b>  exit 0 if r or s (sig hex on stdin) is shorter than n bytes by >= 1 byte,
                 i.e. the raw field needs left padding; exit 1 otherwise
"""
import sys

# I2P's DSA group, transcribed from i2p2www/spec/cryptography.rst ("DSA" section).
DSA_P = int(
    "9C05B2AA960D9B97B8931963C9CC9E8C3026E9B8ED92FAD0"
    "A69CC886D5BF8015FCADAE31A0AD18FAB3F01B00A358DE23"
    "7655C4964AFAA2B337E96AD316B9FB1CC564B5AEC5B69A9F"
    "F6C3E4548707FEF8503D91DD8602E867E6D35D2235C1869C"
    "E2479C3B9D5401DE04E0727FB33D6511285D4CF29538D9E3"
    "B6051F5B22CC1C93", 16)
DSA_Q = int("A5DFC28FEF4CA1E286744CD8EED9D29D684046B7", 16)
DSA_G = int(
    "0C1F4D27D40093B429E962D7223824E0BBC47E7C832A3923"
    "6FC683AF84889581075FF9082ED32353D4374D7301CDA1D2"
    "3C431F4698599DDA02451824FF369752593647CC3DDC197D"
    "E985E43D136CDCFC6BD5409CD2F450821142A5E6F8EB1C3A"
    "B5D0484B8129FCF17BCE4F7F33321C3CB3DBB14A905E7B2B"
    "3E93BE4708CBCC82", 16)


def tlv(buf, pos):
    """Read one DER TLV at pos; return (tag, value_start, value_end)."""
    tag = buf[pos]
    ln = buf[pos + 1]
    pos += 2
    if ln & 0x80:
        n = ln & 0x7F
        ln = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + ln


def children(buf, start, end):
    out = []
    pos = start
    while pos < end:
        tag, vs, ve = tlv(buf, pos)
        out.append((tag, vs, ve))
        pos = ve
    return out


def der_int(v):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")  # keeps a leading 0 when the top bit is set
    return der_tlv(0x02, b)


def der_tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(nb)]) + nb
    return bytes([tag]) + ln + body


def spki_bitstring(buf):
    tag, vs, ve = tlv(buf, 0)
    assert tag == 0x30
    kids = children(buf, vs, ve)
    assert kids[1][0] == 0x03
    _, bs, be = kids[1]
    assert buf[bs] == 0  # no unused bits
    return buf[bs + 1:be]


def main():
    cmd = sys.argv[1]
    if cmd == "dsaparams":
        sys.stdout.buffer.write(der_tlv(0x30, der_int(DSA_P) + der_int(DSA_Q) + der_int(DSA_G)))
        return
    if cmd == "short":
        n = int(sys.argv[2])
        raw = bytes.fromhex(sys.stdin.read().strip())
        r, s = raw[:n], raw[n:]
        sys.exit(0 if r[0] == 0 or s[0] == 0 else 1)
    buf = sys.stdin.buffer.read()
    if cmd == "sig":
        n = int(sys.argv[2])
        tag, vs, ve = tlv(buf, 0)
        assert tag == 0x30
        (t1, rs, re_), (t2, ss, se) = children(buf, vs, ve)
        assert t1 == 0x02 and t2 == 0x02
        r = int.from_bytes(buf[rs:re_], "big")
        s = int.from_bytes(buf[ss:se], "big")
        print((r.to_bytes(n, "big") + s.to_bytes(n, "big")).hex())
    elif cmd == "ecpub":
        n = int(sys.argv[2])
        pt = spki_bitstring(buf)
        assert pt[0] == 0x04 and len(pt) == 1 + 2 * n
        print(pt[1:].hex())
    elif cmd == "dsapub":
        n = int(sys.argv[2])
        inner = spki_bitstring(buf)
        tag, vs, ve = tlv(inner, 0)
        assert tag == 0x02
        y = int.from_bytes(inner[vs:ve], "big")
        print(y.to_bytes(n, "big").hex())
    elif cmd == "edpub":
        pt = spki_bitstring(buf)
        assert len(pt) == 32
        print(pt.hex())
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Extract ML-DSA verification vectors from a Wycheproof checkout into floodgate's block format.

    python3 tests/data/sig/wycheproof_mldsa.py /path/to/wycheproof tests/data/sig

Reads testvectors_v1/mldsa_{44,65,87}_verify_test.json (C2SP/wycheproof, Apache-2.0) and writes
mldsa{44,65,87}.txt (signatures that verify under I2P's rule: pure ML-DSA, empty context) and
mldsa{44,65,87}_invalid.txt (signatures that must not). Only vectors with an absent or empty
context are taken as valid; one vector signed with a non-empty context is kept as invalid, since
I2P (proposal 169) verifies with the empty context only. The selection keeps the files small while
covering the boundary cases and the two verification bugs of ml-dsa 0.0.4 (repeated hint indices,
UseHint(1, 0)).
"""
import json
import os
import sys

# tcIds per parameter set; the comments are Wycheproof's and are copied into the output.
VALID = {
    44: [1, 59, 68, 135, 147],
    65: [1, "signature that calls use_hint(1, 0)"],
    87: [1, "signature that calls use_hint(1, 0)"],
}
INVALID = {
    44: [3, 8, 13, 15, 16, 17, 18, 19, 121, 126, 138, 148],
    65: ["signature with a repeated hint"],
    87: ["signature with a repeated hint"],
}


def tests(doc):
    for group in doc["testGroups"]:
        for t in group["tests"]:
            yield group["publicKey"], t


def pick(doc, wanted):
    out = []
    for want in wanted:
        hits = [
            (pk, t)
            for pk, t in tests(doc)
            if (t["tcId"] == want if isinstance(want, int) else t["comment"] == want)
        ]
        if len(hits) != 1:
            sys.exit(f"{want!r}: {len(hits)} matches")
        out.append(hits[0])
    return out


def block(pk, t):
    return (
        f"# tcId {t['tcId']}: {t['comment']} (Wycheproof: {t['result']}"
        + (f" with ctx {t['ctx']}" if t.get("ctx") else "")
        + ")\n"
        + f"key {pk}\nmsg {t['msg']}\nsig {t['sig']}\n"
    )


def main():
    src, dst = sys.argv[1], sys.argv[2]
    for level in (44, 65, 87):
        path = os.path.join(src, "testvectors_v1", f"mldsa_{level}_verify_test.json")
        with open(path) as f:
            doc = json.load(f)
        head = (
            f"# ML-DSA-{level} (sig type {12 + (level > 44) + (level > 65)}), from Wycheproof\n"
            f"# testvectors_v1/mldsa_{level}_verify_test.json by wycheproof_mldsa.py.\n"
            "# Raw FIPS 204 encodings: key = pkEncode, sig = sigEncode.\n"
        )
        valid = pick(doc, VALID[level])
        for pk, t in valid:
            if t["result"] != "valid" or t.get("ctx"):
                sys.exit(f"tcId {t['tcId']} is not valid with the empty context")
        invalid = pick(doc, INVALID[level])
        for pk, t in invalid:
            if t["result"] == "valid" and not t.get("ctx"):
                sys.exit(f"tcId {t['tcId']} is valid with the empty context")
        with open(os.path.join(dst, f"mldsa{level}.txt"), "w") as f:
            f.write(head + "# Valid under I2P's rule (pure ML-DSA, empty context).\n")
            for pk, t in valid:
                f.write("\n" + block(pk, t))
        with open(os.path.join(dst, f"mldsa{level}_invalid.txt"), "w") as f:
            f.write(head + "# Must not verify under I2P's rule (pure ML-DSA, empty context).\n")
            for pk, t in invalid:
                f.write("\n" + block(pk, t))


if __name__ == "__main__":
    main()

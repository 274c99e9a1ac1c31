#!/bin/sh
# Independent known answer for the tunnel participant layer transform (layer.rs test), computed
# with OpenSSL only:  IV1 = AES-256-ECB(ivKey, IV0); data = AES-256-CBC(layerKey, IV1, data);
# IV2 = AES-256-ECB(ivKey, IV1). Output: hex of IV2 || data (1024 bytes).
# Inputs: layer key bytes 00..1f, IV key 20..3f, IV0 40..4f, data byte i = (i*7+3) mod 256.
set -eu
t=$(mktemp -d)
LAYER=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
IVKEY=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
IV0=404142434445464748494a4b4c4d4e4f
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i*7+3)%256 for i in range(1008)))' > "$t/data"
ecb() { printf '%s' "$2" | xxd -r -p | openssl enc -aes-256-ecb -nopad -K "$1" | xxd -p | tr -d '\n'; }
IV1=$(ecb "$IVKEY" "$IV0")
IV2=$(ecb "$IVKEY" "$IV1")
openssl enc -aes-256-cbc -nopad -K "$LAYER" -iv "$IV1" -in "$t/data" -out "$t/enc"
{ printf '%s' "$IV2"; xxd -p "$t/enc" | tr -d '\n'; echo; }
rm -r "$t"

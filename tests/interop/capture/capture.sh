#!/usr/bin/env bash
# capture.sh OUTDIR [WORKDIR] - capture real i2pd RouterInfos and LeaseSet2s for the wire tests.
#
# Brings up a 4-router testnet (routers 1-2 floodfill) with tests/interop/testnet.sh, every
# i2pd running with the sigtap.so shim (see sigtap.c), then writes to OUTDIR:
#   routerinfo-testnet-floodfill.dat      router.info of router 1 (floodfill), after it joined
#   routerinfo-testnet-nonfloodfill.dat   router.info of router 4 (not floodfill)
#   leaseset2-ed25519-x25519.dat          LeaseSet2 of a SAM client destination on router 4
#                                         (Ed25519, one X25519 key)
#   leaseset2-ed25519-x25519-elgamal.dat  same with two keys (X25519 + ElGamal) and up to 3 leases
# A LeaseSet2 is kept only if a floodfill verified it after a DatabaseStore, router 4 signed
# the same bytes, and it parses and verifies on its own (extract_ls2.py).
#
# Needs root, i2pd, gcc, python3, openssl. WORKDIR (default: a new /tmp directory) keeps the
# testnet's logs and sigtap logs afterwards.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TESTNET="$HERE/../testnet.sh"
[ $# -ge 1 ] || {
	sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
	exit 2
}
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
WORK=${2:-$(mktemp -d /tmp/floodgate-capture.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
NET="$WORK/net"
CLIENT=4
FLOODFILLS=2
HOLDERS=()

die() {
	echo "capture: error: $*" >&2
	exit 1
}

cleanup() {
	local p
	# the SAM holders live in the namespace: stop them first or 'down' keeps it
	for p in "${HOLDERS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	"$TESTNET" down "$NET" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

gcc -Wall -shared -fPIC -O2 -o "$WORK/sigtap.so" "$HERE/sigtap.c" -ldl || die "building sigtap.so failed"
"$TESTNET" up "$NET" --routers 4 --floodfills "$FLOODFILLS" --i2pd-env "LD_PRELOAD=$WORK/sigtap.so"

# router.info is rewritten in place by i2pd: take a copy two reads agree on
stable_copy() {
	local src=$1 dst=$2
	for _ in $(seq 1 50); do
		cp -f "$src" "$dst.tmp"
		sleep 0.2
		if cmp -s "$src" "$dst.tmp"; then
			mv -f "$dst.tmp" "$dst"
			echo "$(basename "$dst"): $(stat -c %s "$dst") bytes, hash $("$TESTNET" hash "$dst")"
			return 0
		fi
	done
	die "$src kept changing"
}
stable_copy "$NET/r1/router.info" "$OUT/routerinfo-testnet-floodfill.dat"
stable_copy "$NET/r$CLIENT/router.info" "$OUT/routerinfo-testnet-nonfloodfill.dat"

# Open a SAM v3.1 STREAM session with a new (TRANSIENT) Ed25519 destination on router K and
# keep it open: i2pd publishes the LeaseSet2 of SAM destinations to the floodfills. The reply
# (with the destination's private keys) goes to REPLYFILE. The background job's PID becomes
# 'sleep' (exec chain), which holds the SAM socket; killing it ends the session.
sam_hold() { # K ID OPTIONS REPLYFILE
	# shellcheck disable=SC2016 # the script expands its own positional arguments
	"$TESTNET" exec "$NET" -- bash -c '
		exec 3<>"/dev/tcp/$1/7656" || exit 1
		printf "HELLO VERSION MIN=3.1 MAX=3.1\n" >&3
		read -r line <&3
		case $line in *RESULT=OK*) ;; *) echo "$line" >"$4"; exit 1 ;; esac
		printf "SESSION CREATE STYLE=STREAM ID=%s DESTINATION=TRANSIENT SIGNATURE_TYPE=7 %s\n" "$2" "$3" >&3
		read -r line <&3
		echo "$line" >"$4.tmp"
		mv "$4.tmp" "$4"
		exec sleep 900' _ "198.18.0.$1" "$2" "$3" "$4" </dev/null >/dev/null 2>&1 &
	HOLDERS+=("$!")
}

capture_ls2() { # NAME SAM_OPTIONS MIN_LEASES
	local name=$1 opts=$2 min=$3 reply="$WORK/sam-$1.reply" deadline rc
	sam_hold "$CLIENT" "$name" "$opts" "$reply"
	deadline=$(($(date +%s) + 180))
	while :; do
		rc=0
		if [ -s "$reply" ]; then
			python3 "$HERE/extract_ls2.py" --dir "$NET" --client "$CLIENT" --floodfills "$FLOODFILLS" \
				--sam-reply "$reply" --min-leases "$min" --out "$OUT/leaseset2-$name.dat" || rc=$?
			[ "$rc" = 0 ] && return 0
			[ "$rc" = 3 ] || die "extract_ls2.py failed for $name"
		fi
		[ "$(date +%s)" -lt "$deadline" ] || die "no LeaseSet2 of $name (>= $min leases) reached a floodfill in 180 s"
		sleep 3
	done
}
capture_ls2 ed25519-x25519 "i2cp.leaseSetEncType=4" 1
capture_ls2 ed25519-x25519-elgamal "i2cp.leaseSetEncType=4,0 inbound.quantity=3" 2

echo "i2pd: $(i2pd --version 2>/dev/null | head -n1); captured $(date -u +%Y-%m-%dT%H:%MZ); work dir $WORK"

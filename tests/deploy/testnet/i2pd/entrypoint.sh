#!/bin/sh
# i2pd router for a private test network (compose.yaml, profile `testnet`).
#
#   I2PD_HOST       address published and bound (required; 198.18.0.0/15: i2pd < 2.51 refuses peers
#                   on private ranges and 127/8, and its check for 198.18/15 never matches)
#   I2PD_PORT       NTCP2 + SSU2 port (default 20000)
#   I2PD_NETID      network id (default 99; 2 is the real I2P network and is refused)
#   I2PD_FLOODFILL  true|false (default true)
#   SEED_RESET=1    delete stale RouterInfos from /seed first (the first router of the chain)
#
# Seeding: every RouterInfo already in /seed goes into our netDb before i2pd starts (i2pd reads the
# netDb only at start); once i2pd has written its own router.info we copy it to
# /seed/routerInfo-<hash>.dat and touch ./published, which is what the compose healthcheck waits for.
set -eu

: "${I2PD_HOST:?I2PD_HOST is required}"
PORT=${I2PD_PORT:-20000}
NETID=${I2PD_NETID:-99}
FF=${I2PD_FLOODFILL:-true}
# not /var/lib/i2pd: the Debian package fills that with symlinks into /etc
D=/srv/i2pd
[ "$NETID" != 2 ] || { echo "refusing netid 2 (the real I2P network)" >&2; exit 1; }

# I2P identity hash of a RouterInfo in I2P base64: SHA-256 over the RouterIdentity, which is 384
# bytes of keys plus a certificate (type byte, 2-byte big-endian length at offset 385, payload).
ri_hash() {
  certlen=$(od -An -tu1 -j385 -N2 "$1" | awk '{print $1*256+$2}')
  head -c $((387 + certlen)) "$1" | sha256sum | cut -c1-64 | tr a-f A-F \
    | basenc --base16 -d | base64 -w0 | tr '+/' '-~'
}

if [ "${SEED_RESET:-0}" = 1 ]; then rm -f /seed/routerInfo-*.dat; fi
rm -f "$D/published"
rm -rf "$D/netDb" "$D/peerProfiles"
mkdir -p "$D/netDb" "$D/certificates"

cat > "$D/i2pd.conf" <<CONF
log = stdout
loglevel = info
daemon = false
netid = $NETID
ipv4 = true
ipv6 = false
host = $I2PD_HOST
address4 = $I2PD_HOST
nat = false
port = $PORT
reservedrange = false
floodfill = $FF
bandwidth = X
share = 100
notransit = false
certsdir = $D/certificates
[ntcp2]
enabled = true
published = true
port = $PORT
[ssu2]
enabled = true
published = true
port = $PORT
[http]
enabled = true
address = $I2PD_HOST
port = 7070
strictheaders = false
[httpproxy]
enabled = false
[socksproxy]
enabled = false
[sam]
enabled = false
[bob]
enabled = false
[i2cp]
enabled = false
[i2pcontrol]
enabled = false
[upnp]
enabled = false
[nettime]
enabled = false
[addressbook]
enabled = false
[persist]
profiles = false
[reseed]
verify = true
threshold = 0
urls =
CONF
: > "$D/tunnels.conf"

for f in /seed/routerInfo-*.dat; do
  [ -e "$f" ] || continue
  h=${f##*/routerInfo-}
  c=$(printf '%s' "$h" | cut -c1)
  mkdir -p "$D/netDb/r$c"
  cp "$f" "$D/netDb/r$c/"
done

i2pd --datadir="$D" --conf="$D/i2pd.conf" --tunconf="$D/tunnels.conf" &
pid=$!
# SIGTERM stops i2pd at once (SIGINT would wait for transit tunnels: pointless on a testnet).
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

i=0
while [ ! -s "$D/router.info" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "i2pd exited before writing router.info" >&2; exit 1; }
  i=$((i + 1)); [ "$i" -lt 300 ] || { echo "no router.info after 30 s" >&2; exit 1; }
  sleep 0.1
done
sleep 0.5
h=$(ri_hash "$D/router.info")
cp "$D/router.info" "/seed/.routerInfo-$h.tmp"
mv "/seed/.routerInfo-$h.tmp" "/seed/routerInfo-$h.dat"
touch "$D/published"
echo "i2pd-testnet: router $h published at $I2PD_HOST:$PORT (floodfill=$FF, netid=$NETID)"
wait "$pid"

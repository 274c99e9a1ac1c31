#!/usr/bin/env bash
# relay-bench.sh - floodgate and i2pd side by side under the same transit load (issue #7).
#
# Usage:
#   relay-bench.sh [--smoke] [--bin PATH] [--tunnels K] [--duration S] [--warmup S]
#                  [--window N] [--only floodgate|i2pd] [--dir DIR] [--keep]
#                  [--uut-cpu N] [--bench-cpu N] [--entries N] [--build-rate R] [--b-routers N]
#                  [--netdb-window N]
#
# In one run: creates a network namespace (lo only, 198.18.0.0/15 addresses, nothing can leave
# the machine), starts floodgate as the router under test (UUT) pinned to one core, runs
# `floodgate bench transit` against it from the other core, stops it, then does the same with
# i2pd (/usr/sbin/i2pd, or $I2PD) with the same K, window, payload and duration, and prints a
# markdown table: floodgate, i2pd and the ratio floodgate/i2pd for every figure.
#
#   --smoke      tiny K and a few seconds; the debug binary is fine. Asserts the pipeline end to
#                end against both routers (every tunnel accepted, TunnelData forwarded, counted
#                and intact) and exits non-zero if not. Takes well under a minute.
#   --bin PATH   the floodgate binary (default: $CARGO_TARGET_DIR or ./target, release/ for a
#                real run, debug/ for --smoke). It is both the UUT and the load tool.
#   --entries N  LeaseSets for the netDb part (default 20000, 50 with --smoke; 0 skips it): each
#                router is restarted as a floodfill, `floodgate bench netdb` stores N fresh
#                LeaseSet2s with acknowledgement (64 in flight), then looks them up round and
#                round for 10 s (1 s with --smoke) and checks every answer's bytes.
#   --netdb-window N  netDb requests in flight (default 256). With 64, i2pd 2.45 answered
#                only ~1,800 lookups/s here while idle (about one round trip per 35 ms) but
#                74k/s with 16 and 100k/s with 256; floodgate was steady (120-138k/s) at all
#                three. Above ~500 i2pd closes the session (its outgoing queue limit).
#   --window N   TunnelData in flight at most (default 2048: enough to keep either UUT busy;
#                256 with --smoke).
#   --b-routers N  next-hop routers the tunnels are spread over (default 8). i2pd 2.45 closes a
#                session whose outgoing queue exceeds 500 messages, so window / b-routers must
#                stay well below 500 or the run measures that limit, not forwarding.
#   --build-rate R  builds per second (default 150: below floodgate's per-previous-hop limit of
#                200/s with the limits set here; i2pd 2.45 has none. 0 = unpaced).
#   --only R     measure one router only (no ratio column).
#   --dir DIR    keep data dirs, logs and JSON reports here (default: a temp dir, removed unless
#                --keep or a failure).
#
# Needs root (network namespace), ip, taskset, jq, i2pd. Why a namespace at 198.18.x: i2pd 2.45
# refuses NTCP2 peers on 127/8 and private ranges (see tests/interop/README.md).
#
# Same conditions for both routers: the UUT gets core --uut-cpu (default 0) to itself, the bench
# core --bench-cpu (default 1); both routers get the same transit limits (tunnel count and
# bandwidth far above what the run needs, share 100 %), logging at warn, no floodfill duties.
set -euo pipefail

PROG=relay-bench.sh
NET_ID=99
UUT_IP=198.18.0.1
UUT_PORT=12345
A_IP=198.18.0.102
# B routers: 198.18.0.103, .104, ... (one address each)
B_FIRST=103
# Far above K so neither router's admission limits decide the result. floodgate derives its
# build rate limits from max_tunnels (max/200 per second, a fifth of that per previous hop, so
# 200000 lets one previous hop build 200/s); i2pd's limits.transittunnels is 16-bit.
FG_MAX_TUNNELS=200000
I2PD_MAX_TUNNELS=65535
# Bandwidth both routers are configured with (KiB/s, env RELAY_BENCH_BANDWIDTH_KBPS): far above
# what one core forwards. floodgate sizes its IV Bloom filter from it (10 minutes at this rate,
# capped at 64M entries = 2 x 256 MiB, reached from ~110 MB/s up).
BANDWIDTH_KBPS=${RELAY_BENCH_BANDWIDTH_KBPS:-4000000}

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}
info() { echo "$PROG: $*" >&2; }

smoke=0 bin="" tunnels="" duration="" warmup="" window="" netdb_window=256 b_routers=8 build_rate=150 only="" dir="" keep=0 entries=
uut_cpu=0 bench_cpu=1
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1 ;;
	--keep) keep=1 ;;
	--bin | --tunnels | --duration | --warmup | --window | --only | --dir | --uut-cpu | --bench-cpu | --entries | --build-rate | --b-routers | --netdb-window)
		[ $# -ge 2 ] || die "$1 needs a value"
		case $1 in
		--bin) bin=$2 ;;
		--tunnels) tunnels=$2 ;;
		--duration) duration=$2 ;;
		--warmup) warmup=$2 ;;
		--window) window=$2 ;;
		--only) only=$2 ;;
		--dir) dir=$2 ;;
		--uut-cpu) uut_cpu=$2 ;;
		--bench-cpu) bench_cpu=$2 ;;
		--entries) entries=$2 ;;
		--build-rate) build_rate=$2 ;;
		--b-routers) b_routers=$2 ;;
		--netdb-window) netdb_window=$2 ;;
		esac
		shift
		;;
	-h | --help)
		sed -n '3,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
		exit 2
		;;
	*) die "unknown option '$1'" ;;
	esac
	shift
done
if [ "$smoke" = 1 ]; then
	# A window below i2pd's 500-message session queue limit even if every message in flight
	# were queued for one B: the smoke run must not flake on a loaded machine.
	: "${tunnels:=8}" "${duration:=3}" "${warmup:=1}" "${entries:=50}" "${window:=256}"
	lookup_duration=1
	profile=debug
else
	: "${tunnels:=1000}" "${duration:=20}" "${warmup:=3}" "${entries:=20000}" "${window:=2048}"
	lookup_duration=10
	profile=release
fi
case $only in "" | floodgate | i2pd) ;; *) die "--only floodgate|i2pd" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (network namespace)"
for t in ip taskset jq; do command -v "$t" >/dev/null || die "'$t' not found"; done
I2PD=${I2PD:-/usr/sbin/i2pd}
if [ "$only" != floodgate ]; then [ -x "$I2PD" ] || die "i2pd not found at $I2PD (set I2PD=...)"; fi
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "$bin" ]; then
	bin=${CARGO_TARGET_DIR:-$root/target}/$profile/floodgate
fi
[ -x "$bin" ] || die "floodgate binary $bin not found; build it first (cargo build${smoke:+} $([ $profile = release ] && echo --release))"
bin=$(readlink -f "$bin")

if [ -z "$dir" ]; then
	dir=$(mktemp -d /tmp/relay-bench.XXXXXX)
else
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
fi
NS=fgbench-$(printf '%s' "$dir" | sha256sum | cut -c1-10)
UUT_PID=""
failed=1

# Stop the UUT we started (only that PID), delete the namespace, drop the temp dir on success.
cleanup() {
	stop_uut
	if [ -e "/run/netns/$NS" ]; then
		if [ -z "$(ip netns pids "$NS" 2>/dev/null)" ]; then
			ip netns del "$NS" || true
		else
			info "namespace $NS still has processes: $(ip netns pids "$NS" | tr '\n' ' ')"
		fi
	fi
	if [ "$failed" = 0 ] && [ "$keep" = 0 ]; then
		rm -rf "$dir"
	else
		info "logs and reports kept in $dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_uut() {
	[ -n "$UUT_PID" ] || return 0
	if kill -0 "$UUT_PID" 2>/dev/null; then
		kill -TERM "$UUT_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$UUT_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$UUT_PID" 2>/dev/null || true
	fi
	wait "$UUT_PID" 2>/dev/null || true
	UUT_PID=""
}

in_ns() { ip netns exec "$NS" "$@"; }

# The namespace: lo only, the UUT's and the bench routers' addresses on it.
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
if ! [[ $b_routers =~ ^[1-9][0-9]?$ ]] || [ "$b_routers" -gt 20 ]; then die "--b-routers must be 1..20"; fi
B_ARGS=()
for i in $(seq 0 $((b_routers - 1))); do B_ARGS+=(--b-ip "198.18.0.$((B_FIRST + i))"); done
for a in $UUT_IP $A_IP "${B_ARGS[@]}"; do
	[ "$a" = --b-ip ] || ip -n "$NS" addr add "$a/32" dev lo
done

# Wait until FILE is non-empty and something listens on the UUT port, or the UUT dies.
wait_uut() {
	local file=$1 log=$2
	for _ in $(seq 1 300); do
		kill -0 "$UUT_PID" 2>/dev/null || die "UUT exited during start; see $log:
$(tail -n 20 "$log" 2>/dev/null; tail -n 5 "${log%/*}/stdout.log" 2>/dev/null)"
		if [ -s "$file" ] && in_ns ss -Hltn "sport = :$UUT_PORT" | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	die "UUT did not listen within 30 s; see $log"
}

run_netdb() { # NAME
	local name=$1 args=()
	args=(bench netdb --router-info "$dir/$name-ff/router.info" --uut-pid "$UUT_PID"
		--entries "$entries" --lookup-duration "$lookup_duration" --window "$netdb_window" --a-ip "$A_IP" --json)
	[ "$smoke" = 1 ] && args+=(--check)
	info "$name (floodfill): netdb bench with $entries LeaseSets"
	if ! in_ns env FLOODGATE_BENCH_LOG=warn taskset -c "$bench_cpu" "$bin" "${args[@]}" \
		>"$dir/$name-netdb.json" 2>"$dir/$name-netdb.bench.log"; then
		cat "$dir/$name-netdb.bench.log" >&2
		[ -s "$dir/$name-netdb.json" ] && cat "$dir/$name-netdb.json" >&2
		die "$name: netdb bench failed"
	fi
}

run_bench() { # NAME
	local name=$1 args=()
	args=(bench transit --router-info "$dir/$name/router.info" --uut-pid "$UUT_PID"
		--tunnels "$tunnels" --duration "$duration" --warmup "$warmup" --window "$window"
		--build-rate "$build_rate"
		--a-ip "$A_IP" "${B_ARGS[@]}" --json)
	[ "$smoke" = 1 ] && args+=(--check)
	info "$name: bench with K=$tunnels, ${warmup}s warm-up, ${duration}s measured (UUT pid $UUT_PID on core $uut_cpu)"
	if ! in_ns env FLOODGATE_BENCH_LOG=warn taskset -c "$bench_cpu" "$bin" "${args[@]}" \
		>"$dir/$name.json" 2>"$dir/$name.bench.log"; then
		cat "$dir/$name.bench.log" >&2
		[ -s "$dir/$name.json" ] && cat "$dir/$name.json" >&2
		die "$name: bench failed"
	fi
}

start_floodgate() { # [floodfill]
	local ff=false d=$dir/floodgate
	if [ "${1:-}" = floodfill ]; then ff=true d=$dir/floodgate-ff; fi
	mkdir -p "$d"
	local env=("FLOODGATE_DATA_DIR=$d" "FLOODGATE_NET_ID=$NET_ID" "FLOODGATE_HOST=$UUT_IP"
		"FLOODGATE_NTCP2__ADDRESS=$UUT_IP" "FLOODGATE_NTCP2__PORT=$UUT_PORT" FLOODGATE_NTCP2__IPV6=false
		"FLOODGATE_HTTP__LISTEN=$UUT_IP:7670" "FLOODGATE_FLOODFILL=$ff"
		"FLOODGATE_TRANSIT__MAX_TUNNELS=$FG_MAX_TUNNELS" "FLOODGATE_TRANSIT__BANDWIDTH_KBPS=$BANDWIDTH_KBPS"
		FLOODGATE_TRANSIT__SHARE_PERCENT=100 FLOODGATE_LOG__LEVEL=warn)
	# Nothing of the caller's FLOODGATE_* settings may leak into the UUT.
	env -i PATH="$PATH" "${env[@]}" "$bin" keys >/dev/null
	(exec env -i PATH="$PATH" "${env[@]}" ip netns exec "$NS" taskset -c "$uut_cpu" "$bin" run \
		</dev/null >"$d/floodgate.log" 2>&1) &
	UUT_PID=$!
	wait_uut "$d/router.info" "$d/floodgate.log"
}

start_i2pd() { # [floodfill]
	local ff=false d=$dir/i2pd
	if [ "${1:-}" = floodfill ]; then ff=true d=$dir/i2pd-ff; fi
	mkdir -p "$d/certificates"
	: >"$d/tunnels.conf"
	cat >"$d/i2pd.conf" <<EOF
# Router under test for $PROG: a lone transit router, limits as floodgate's in the same run.
log = file
logfile = $d/i2pd.log
loglevel = warn
daemon = false
pidfile = $d/i2pd.pid
tunconf = $d/tunnels.conf
certsdir = $d/certificates
netid = $NET_ID
ipv4 = true
ipv6 = false
host = $UUT_IP
address4 = $UUT_IP
port = $UUT_PORT
nat = false
reservedrange = false
floodfill = $ff
# KB/s as a number: the letter X would cap transit at 9999 KB/s.
bandwidth = $BANDWIDTH_KBPS
share = 100
notransit = false
[limits]
transittunnels = $I2PD_MAX_TUNNELS
[ntcp2]
enabled = true
published = true
port = $UUT_PORT
[ssu2]
enabled = false
[http]
enabled = false
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
EOF
	(cd "$d" && exec ip netns exec "$NS" taskset -c "$uut_cpu" "$I2PD" --datadir="$d" \
		--conf="$d/i2pd.conf" </dev/null >"$d/stdout.log" 2>&1) &
	UUT_PID=$!
	wait_uut "$d/router.info" "$d/i2pd.log"
	# i2pd writes router.info at start and may rewrite it once its address settles.
	sleep 1
}

routers=()
case $only in
"") routers=(floodgate i2pd) ;;
*) routers=("$only") ;;
esac
for r in "${routers[@]}"; do
	"start_$r"
	run_bench "$r"
	# floodgate's own counters (drops by reason, build outcomes) as evidence next to the report.
	if [ "$r" = floodgate ]; then
		in_ns curl -s --max-time 5 "http://$UUT_IP:7670/metrics" >"$dir/floodgate.metrics" || true
	fi
	stop_uut
	jq -r '"\(.tunnels_accepted)/\(.tunnels_requested) tunnels, \(.messages_per_s|floor) msg/s, \(.mb_per_s*100|floor/100) MB/s"' \
		"$dir/$r.json" | sed "s/^/$PROG: $r: /" >&2
	if [ "$entries" -gt 0 ]; then
		"start_$r" floodfill
		run_netdb "$r"
		stop_uut
		jq -r '"\(.stores_per_s|floor) stores/s, \(.lookups_per_s|floor) correct lookups/s"' \
			"$dir/$r-netdb.json" | sed "s/^/$PROG: $r: /" >&2
	fi
done

# The comparison table (markdown). Ratio = floodgate / i2pd as measured, so for costs (CPU,
# memory, latency) below 1 is better and for rates above 1 is better.
table() {
	# label | jq expression | decimals | report (transit, or netdb)
	local rows=(
		"tunnels accepted|.tunnels_accepted|0|"
		"tunnels rejected + unanswered|(.tunnels_rejected + .tunnels_unanswered)|0|"
		"build reply p50 (us)|.build_reply_p50_us|0|"
		"build reply p99 (us)|.build_reply_p99_us|0|"
		"UUT CPU ms per build (whole build phase)|.uut_cpu_ms_per_build|3|"
		"forwarded messages/s|.messages_per_s|0|"
		"forwarded MB/s|.mb_per_s|2|"
		"messages lost (whole run)|.messages_lost|0|"
		"latency p50 (us)|.latency_p50_us|0|"
		"latency p99 (us)|.latency_p99_us|0|"
		"UUT CPU (% of its core)|.uut_cpu_percent|0|"
		"UUT CPU s per GB forwarded|.uut_cpu_s_per_gb|2|"
		"UUT RSS before build (MiB)|(.uut_rss_before_build_bytes / 1048576)|1|"
		"UUT RSS per tunnel (bytes)|.uut_rss_per_tunnel_bytes|0|"
		"UUT RSS at end (MiB)|(.uut_rss_end_bytes / 1048576)|1|"
		"bench CPU (% of its core)|.bench_cpu_percent|0|"
	)
	if [ "$entries" -gt 0 ]; then
		rows+=(
			"netDb: LeaseSet stores acked|.stores_acked|0|-netdb"
			"netDb: stores/s|.stores_per_s|0|-netdb"
			"netDb: lookups sent|.lookups_sent|0|-netdb"
			"netDb: lookups answered correctly|.lookups_correct|0|-netdb"
			"netDb: correct lookups/s|.lookups_per_s|0|-netdb"
			"netDb: UUT CPU ms per store|(.uut_cpu_store_s / .stores_acked * 1000)|3|-netdb"
			"netDb: UUT CPU ms per lookup|(.uut_cpu_lookup_s / .lookups_correct * 1000)|3|-netdb"
		)
	fi
	local header="| figure |" sep="|---|" r
	for r in "${routers[@]}"; do
		header+=" $r |"
		sep+="---:|"
	done
	[ ${#routers[@]} = 2 ] && header+=" floodgate / i2pd |" && sep+="---:|"
	echo "$header"
	echo "$sep"
	local row label expr digits file line a b
	for row in "${rows[@]}"; do
		IFS='|' read -r label expr digits file <<<"$row"
		line="| $label |"
		for r in "${routers[@]}"; do
			a=$(jq -r "(try ($expr) catch null) // \"-\" | if type == \"number\" then (. * pow(10; $digits) | round / pow(10; $digits)) else . end" "$dir/$r$file.json")
			line+=" $a |"
		done
		if [ ${#routers[@]} = 2 ]; then
			a=$(jq -r "(try ($expr) catch null) // null" "$dir/floodgate$file.json")
			b=$(jq -r "(try ($expr) catch null) // null" "$dir/i2pd$file.json")
			line+=" $(jq -rn --argjson a "$a" --argjson b "$b" \
				'if ($a == null or $b == null or $b == 0) then "-" else ($a / $b * 100 | round / 100) end') |"
		fi
		echo "$line"
	done
}

echo
echo "K=$tunnels tunnels built at ${build_rate}/s, ${duration}s measured after ${warmup}s warm-up, window $window over $b_routers B routers, 1028-byte TunnelData; UUT on core $uut_cpu, bench on core $bench_cpu; $("$bin" version | head -n1), i2pd $("$I2PD" --version 2>/dev/null | sed -n 's/^i2pd version \([0-9.]*\).*/\1/p' | head -n1)"
echo
table

if [ "$smoke" = 1 ]; then
	# --check already failed the bench on a broken pipeline; this is the summary of why it passed.
	for r in "${routers[@]}"; do
		jq -e '.tunnels_accepted == .tunnels_requested and .messages_forwarded > 0 and .checksum_failures == 0 and .wrong_tunnel == 0' \
			"$dir/$r.json" >/dev/null || die "smoke: $r did not pass"
		if [ "$entries" -gt 0 ]; then
			jq -e '.stores_acked == .entries and .lookups_correct == .lookups_sent and .lookups_sent >= .entries' \
				"$dir/$r-netdb.json" >/dev/null || die "smoke: $r netDb did not pass"
		fi
	done
	info "smoke: OK (${routers[*]})"
fi
failed=0

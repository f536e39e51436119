#!/usr/bin/env bash
# Provision moto[server] 5.2.5 and cbor2 (for scripts/moto_cbor.py) in target/moto-venv (once;
# reused afterwards). Prints the venv path. The same venv and marker as the test harness.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-target}/moto-venv"
marker="$venv/.moto-5.2.5-cbor2-5.6.5"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$marker" ]; then
  echo "provisioning moto[server]==5.2.5 and cbor2==5.6.5 in $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' 'cbor2==5.6.5' >&2
  echo 5.2.5 > "$marker"
fi
echo "$venv"

#!/usr/bin/env bash
# Provision moto[server] 5.2.5 in target/moto-venv (once; reused afterwards). Prints the venv path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-target}/moto-venv"
if [ ! -x "$venv/bin/moto_server" ] || [ ! -f "$venv/.moto-5.2.5" ]; then
  echo "provisioning moto[server]==5.2.5 in $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' >&2
  echo 5.2.5 > "$venv/.moto-5.2.5"
fi
echo "$venv"

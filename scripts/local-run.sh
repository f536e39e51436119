#!/usr/bin/env bash
# Run firehose-sentinel end to end on this machine: start moto, seed a failing and a healthy
# delivery stream, start a webhook receiver that prints alerts, run the daemon. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/ensure-moto.sh)
cargo build --quiet
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port); hook_port=$(free_port)
http_port=${SENTINEL_PORT:-9725}
mkdir -p target/local-run
rm -f target/local-run/state.json
pids=()
cleanup() { trap - INT TERM EXIT; echo; echo "stopping..."; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup INT TERM EXIT

# moto, with CloudWatch translated from the CBOR protocol the current SDK speaks.
"$venv/bin/python" scripts/moto_cbor.py 127.0.0.1 "$moto_port" > target/local-run/moto.log 2>&1 & pids+=($!)
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && break; sleep 0.1; done
python3 scripts/receiver.py "$hook_port" & pids+=($!)
"$venv/bin/python" scripts/seed.py "http://127.0.0.1:$moto_port" & pids+=($!)
sleep 2

echo "metrics: http://127.0.0.1:$http_port/metrics   status: http://127.0.0.1:$http_port/api/v1/status"
echo "the failing stream alerts within a few seconds; Ctrl-C stops everything"
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
FIREHOSE_SENTINEL__AWS__ENDPOINT_URL="http://127.0.0.1:$moto_port" \
SENTINEL_LOCAL_HOOK_URL="http://127.0.0.1:$hook_port/hook" \
FIREHOSE_SENTINEL__SERVER__LISTEN="127.0.0.1:$http_port" \
RUST_LOG="${RUST_LOG:-info}" \
  ./target/debug/firehose-sentinel --log-format text run -c config/local.toml 2> target/local-run/sentinel.log & pids+=($!)
echo "daemon log: target/local-run/sentinel.log"
wait "${pids[-1]}"

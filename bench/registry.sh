#!/usr/bin/env bash
# Issue #7's registry figures, rerunnable by anyone: push and pull of a 50 MB model through `/system/models` on
# the local artifact folder and on an S3 server (moto, from PyPI), timed with hyperfine around curl; then the
# list of 10,000 registered versions (`GET /system/models`, SQLite store), timed the same way. Prints Markdown.
#
#   bench/registry.sh                 # about 3 minutes after the release build
#   RUNS=10 SIZE_MB=100 bench/registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-50}
VERSIONS=${VERSIONS:-10000}
PORT=${PORT:-18280}
S3_PORT=${S3_PORT:-18290}
for tool in hyperfine curl; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install -y $tool" >&2; exit 1; }
done

cargo build --release -q -p sedge --bin sedge
SEDGE=$PWD/target/release/sedge
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# moto's S3 server in its own venv (pinned as the tests pin it).
VENV=target/bench-venvs/moto
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import moto.server' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5'
fi
"$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$S3_PORT" >/dev/null 2>&1 &
pids+=($!)

# A valid ONNX file of SIZE_MB: the taxi trees with a doc_string of that size appended (the last value wins).
python3 - ../shared/models/gbt_taxi_xgb.onnx "$WORK/big.onnx" "$SIZE_MB" <<'PY'
import sys
base = open(sys.argv[1], "rb").read()
pad = b"a" * (int(sys.argv[3]) * 1000 * 1000 - len(base) - 5)  # tag byte + 4-byte length
n, varint = len(pad), b""
while True:
    b = n & 0x7F; n >>= 7
    varint += bytes([b | (0x80 if n else 0)])
    if not n: break
open(sys.argv[2], "wb").write(base + bytes([0x32]) + varint + pad)
PY
SIZE=$(stat -c %s "$WORK/big.onnx")

wait_up() { for _ in $(seq 300); do curl -fs "$1/healthz" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
for _ in $(seq 100); do curl -s "http://127.0.0.1:$S3_PORT/" >/dev/null && break; sleep 0.1; done
curl -fs -X PUT "http://127.0.0.1:$S3_PORT/bench-models" >/dev/null

echo "## Push and pull of a $SIZE-byte model ($RUNS runs each, hyperfine mean)"
echo
echo "| artifacts | push | push MB/s | pull | pull MB/s |"
echo "|---|---|---|---|---|"
for backend in local s3; do
  state="$WORK/state-$backend"
  args=()
  if [ $backend = s3 ]; then
    args=(--artifacts "s3://bench-models?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1&access_key_id=test&secret_access_key=test")
  fi
  "$SEDGE" up --listen 127.0.0.1:$PORT --state "$state" "${args[@]}" >/dev/null 2>&1 &
  pid=$!
  url=http://127.0.0.1:$PORT
  wait_up "$url"
  pw=$(cat "$state/secrets/basic-auth-password")
  push="curl -fsS -o /dev/null -u admin:$pw -F 'metadata={\"name\":\"big\"};type=application/json' -F file=@$WORK/big.onnx $url/system/models"
  pull="curl -fsS -o /dev/null -u admin:$pw $url/system/models/big/versions/latest/file"
  hyperfine -N --style none -w 1 -r "$RUNS" --export-json "$WORK/push.json" "$push" >/dev/null
  hyperfine -N --style none -w 1 -r "$RUNS" --export-json "$WORK/pull.json" "$pull" >/dev/null
  python3 - "$WORK/push.json" "$WORK/pull.json" "$SIZE" "$backend" <<'PY'
import json, sys
mean = lambda f: json.load(open(f))["results"][0]["mean"]
push, pull, size = mean(sys.argv[1]), mean(sys.argv[2]), int(sys.argv[3])
print(f"| {sys.argv[4]} | {push*1000:.0f} ms | {size/push/1e6:.0f} | {pull*1000:.0f} ms | {size/pull/1e6:.0f} |")
PY
  kill $pid; wait $pid 2>/dev/null || true
done

echo
echo "## List of $VERSIONS registered versions (SQLite store)"
echo
state="$WORK/state-list"
"$SEDGE" up --listen 127.0.0.1:$PORT --state "$state" >/dev/null 2>&1 &
pids+=($!)
url=http://127.0.0.1:$PORT
wait_up "$url"
pw=$(cat "$state/secrets/basic-auth-password")
auth=$(printf 'admin:%s' "$pw" | base64 -w0)
# One multipart push body (a small model), sent VERSIONS times by `sedge bench`: VERSIONS versions of three names.
python3 - ../shared/models/gbt_taxi_xgb.onnx "$WORK" <<'PY'
import sys
model = open(sys.argv[1], "rb").read()
for name in ("taxi", "mnist", "ionosphere"):
    body = (b"--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n" +
            ('{"name": "%s", "metrics": {"rmse": 0.26}, "params": {"trees": 100}}' % name).encode() +
            b"\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.onnx\"\r\n\r\n" + model +
            b"\r\n--B--\r\n")
    open(f"{sys.argv[2]}/push-{name}.multipart", "wb").write(body)
PY
per=$(( (VERSIONS + 2) / 3 ))
for name in taxi mnist ionosphere; do
  "$SEDGE" bench "$url/system/models" -X POST --body-file "$WORK/push-$name.multipart" \
    -H "Content-Type: multipart/form-data; boundary=B" -H "Authorization: Basic $auth" \
    --vus 4 --iterations "$per" --check-status 201 -q --json "$WORK/push-$name.json" >/dev/null
done
count=$(curl -fsS -u "admin:$pw" "$url/system/models?limit=100000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
python3 - "$WORK"/push-*.json <<'PY'
import json, sys
runs = [json.load(open(f))["summary"] for f in sys.argv[1:]]
print("pushes of a small model, 4 at a time:", ", ".join(f"{r['rps']:.0f}/s (p99 {r['latency']['p99_ms']:.1f} ms, {r['failed']} failed)" for r in runs))
print()
PY
hyperfine -N --style none -w 3 -r 20 --export-json "$WORK/list.json" \
  "curl -fsS -o /dev/null -u admin:$pw $url/system/models?limit=$VERSIONS" \
  "curl -fsS -o /dev/null -u admin:$pw $url/system/models?name=taxi&stage=none&limit=100" >/dev/null
python3 - "$WORK/list.json" "$count" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(f"| query ({sys.argv[2]} versions registered) | mean | min | max |")
print("|---|---|---|---|")
for label, x in zip(["all versions (JSON array)", "one name, stage none, limit 100"], r):
    print(f"| {label} | {x['mean']*1000:.1f} ms | {x['min']*1000:.1f} ms | {x['max']*1000:.1f} ms |")
PY

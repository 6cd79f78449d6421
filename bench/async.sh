#!/usr/bin/env bash
# Issue #7's async-queue figures, rerunnable by anyone, on SQLite (the default store) and on PostgreSQL (a
# private server in a temp folder, Debian's `postgresql` binaries):
#   - enqueue rate: `sedge bench` posting to /async-function/hello (16 virtual users, DURATION), every answer a
#     202 committed to the store;
#   - end-to-end throughput: CALLS calls enqueued, then the time until the dispatcher has run them all (counted
#     from the gateway's /metrics), with --async-concurrency 8 and a fork-mode `cat` function.
#
#   bench/async.sh                      # about 2 minutes after the release build
#   DURATION=20s CALLS=20000 bench/async.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CALLS=${CALLS:-5000}
PORT=${PORT:-18380}
PG_PORT=${PG_PORT:-18390}
cargo build --release -q -p sedge --bin sedge
SEDGE=$PWD/target/release/sedge
WORK=$(mktemp -d)
chmod 755 "$WORK"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -d "$WORK/pg/data" ] && "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" stop -m fast >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A private PostgreSQL (as the `postgres` user when run as root: it refuses root).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is missing: apt-get install -y postgresql" >&2; exit 1; }
as_pg=(env); [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
mkdir -p "$WORK/pg" && chown "$([ "$(id -u)" = 0 ] && echo postgres || id -un)" "$WORK/pg"
"${as_pg[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -A trust >/dev/null
"${as_pg[@]}" "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PG_PORT" -k "$WORK/pg" -c listen_addresses=127.0.0.1 >/dev/null 2>&1 &
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done

echo "| store | enqueue (202s/s, 16 VUs) | enqueue p99 | end to end ($CALLS calls) | calls/s |"
echo "|---|---|---|---|---|"
for store in sqlite postgres; do
  state="$WORK/state-$store"
  args=()
  if [ $store = postgres ]; then
    "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench
    args=(--db "postgres://postgres@127.0.0.1:$PG_PORT/bench")
  fi
  "$SEDGE" up --listen 127.0.0.1:$PORT --state "$state" --async-concurrency 8 "${args[@]}" >/dev/null 2>&1 &
  pid=$!
  url=http://127.0.0.1:$PORT
  for _ in $(seq 300); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
  pw=$(cat "$state/secrets/basic-auth-password")
  curl -fsS -u "admin:$pw" -X POST "$url/system/functions" \
    -d '{"service": "hello", "image": "hello", "envProcess": "cat", "labels": {"com.openfaas.scale.min": "1"}}' >/dev/null
  # Enqueue rate: calls pile up (the dispatcher runs them meanwhile); only the 202 is timed.
  "$SEDGE" bench "$url/async-function/hello" -d hello --vus 16 --duration "$DURATION" --check-status 202 -q \
    --json "$WORK/enqueue-$store.json" >/dev/null
  # Drain what the enqueue test left, then time CALLS calls from the first enqueue to the last completion.
  python3 - "$url" "$pw" "$CALLS" "$WORK/enqueue-$store.json" "$store" <<'PY'
import base64, concurrent.futures, http.client, json, re, sys, time, urllib.parse
url, pw, calls, enqueue_json, store = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
host = urllib.parse.urlparse(url).netloc
auth = {"Authorization": "Basic " + base64.b64encode(f"admin:{pw}".encode()).decode()}
def completed():
    c = http.client.HTTPConnection(host, timeout=30); c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    return sum(float(v) for v in re.findall(r'^gateway_function_invocation_total\{[^}]*function_name="hello\.openfaas-fn"[^}]*\} (\S+)', text, re.M))
def pending():
    c = http.client.HTTPConnection(host, timeout=30)
    n = 0
    for status in ("queued", "running"):
        c.request("GET", f"/system/async-calls?status={status}&limit=1", headers=auth)
        n += len(json.loads(c.getresponse().read()))
    return n
deadline = time.time() + 600
while pending() and time.time() < deadline:
    time.sleep(0.2)
base = completed()
def send(k):
    c = http.client.HTTPConnection(host, timeout=30)
    for _ in range(k):
        c.request("POST", "/async-function/hello", body=b"hello"); r = c.getresponse(); r.read()
        assert r.status == 202, r.status
t0 = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(send, [calls // 8] * 8))
sent = calls // 8 * 8
while completed() - base < sent and time.time() < deadline:
    time.sleep(0.05)
took = time.perf_counter() - t0
s = json.load(open(enqueue_json))["summary"]
rate, p99, failed = s["rps"], s["latency"]["p99_ms"], s["failed"]
fmt = lambda v: f"{v:,.0f}"
print(f"| {store} | {fmt(rate)} ({failed} not 202) | {p99:.2f} ms | {took:.2f} s | {sent / took:,.0f} |")
PY
  kill $pid; wait $pid 2>/dev/null || true
done

#!/usr/bin/env bash
# Issue #3's figures, rerunnable by anyone: fork-mode `cat`, http mode in front of a trivial handler (direct vs
# through sedge), `sedge up` to healthy, and RSS with 10 fork functions. Load from wrk (Debian package `wrk`),
# 10 s per run on loopback, concurrency 1 and 16. Prints a Markdown table for BENCHMARKS.md.
#
#   bench/gateway.sh            # all of it (about 2 minutes after the release build)
#   DURATION=5s bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
PORT=${PORT:-18180}
HELLO_PORT=${HELLO_PORT:-18190}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release -q -p sedge --bin sedge
cargo build --release -q -p sedge-runtime --example hello_http
SEDGE=$PWD/target/release/sedge
HELLO=$PWD/target/release/examples/hello_http
STATE=$(mktemp -d)
LUA=$(mktemp --suffix .lua)
echo 'wrk.method = "POST"; wrk.body = "hello"' > "$LUA"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$STATE" "$LUA"; }
trap cleanup EXIT

# wrk --latency output → "req/s p50 p99"
measure() { # url connections
  local out; out=$(wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"$DURATION" --latency -s "$LUA" "$1")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  echo "$rps $p50 $p99 ${non2xx:-0}"
}

echo "## sedge up to healthy (10 starts, fresh state dir each)"
python3 - "$SEDGE" <<'PY'
import http.client, statistics, subprocess, sys, tempfile, time
times = []
for i in range(10):
    state = tempfile.mkdtemp()
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.argv[1], "up", "--listen", "127.0.0.1:18170", "--state", state],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", 18170, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.001)
    times.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
print(f"start to healthy: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (first start includes password generation)")
PY

"$SEDGE" up --listen 127.0.0.1:$PORT --state "$STATE" >/dev/null 2>&1 &
pids+=($!)
SEDGE_PID=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.05; done
PW=$(cat "$STATE/secrets/basic-auth-password")
deploy() { curl -sf -u admin:"$PW" -X POST http://127.0.0.1:$PORT/system/functions -d "$1" >/dev/null; }
deploy '{"service":"cat","image":"cat","envProcess":"cat"}'
deploy "{\"service\":\"hello\",\"image\":\"hello\",\"envProcess\":\"$HELLO\",\"envVars\":{\"mode\":\"http\"}}"
for _ in $(seq 100); do
  [ "$(curl -s -u admin:"$PW" http://127.0.0.1:$PORT/system/function/hello | python3 -c 'import json,sys; print(json.load(sys.stdin)["availableReplicas"])')" = 1 ] && break; sleep 0.05
done
PORT=$HELLO_PORT "$HELLO" & pids+=($!)
sleep 0.3

echo
echo "| case | c | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
for c in 1 16; do
  read -r rps p50 p99 bad < <(measure "http://127.0.0.1:$PORT/function/cat" $c)
  echo "| fork mode, fprocess: cat, through sedge | $c | $rps | $p50 | $p99 | $bad |"
done
for c in 1 16; do
  read -r rps p50 p99 bad < <(measure "http://127.0.0.1:$HELLO_PORT/" $c)
  echo "| trivial handler, direct | $c | $rps | $p50 | $p99 | $bad |"
  read -r rps2 p502 p992 bad2 < <(measure "http://127.0.0.1:$PORT/function/hello" $c)
  echo "| trivial handler, http mode through sedge | $c | $rps2 | $p502 | $p992 | $bad2 |"
  python3 -c "print(f'| ratio through/direct | $c | {float(\"$rps2\")/float(\"$rps\"):.2f} | | | |')"
done

# RSS with exactly 10 fork-mode functions, on a fresh instance (each invoked once).
STATE2=$(mktemp -d)
"$SEDGE" up --listen 127.0.0.1:$((PORT + 1)) --state "$STATE2" >/dev/null 2>&1 &
pids+=($!)
RSS_PID=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$((PORT + 1))/healthz >/dev/null && break; sleep 0.05; done
PW2=$(cat "$STATE2/secrets/basic-auth-password")
for i in $(seq 1 10); do
  curl -sf -u admin:"$PW2" -X POST http://127.0.0.1:$((PORT + 1))/system/functions \
    -d "{\"service\":\"cat$i\",\"image\":\"cat\",\"envProcess\":\"cat\"}" >/dev/null
  curl -s -d x http://127.0.0.1:$((PORT + 1))/function/cat$i >/dev/null
done
echo
echo "RSS of sedge up with 10 deployed fork-mode functions: $(awk '/VmRSS/ {print $2, $3}' /proc/$RSS_PID/status)"
rm -rf "$STATE2"

#!/usr/bin/env bash
# sedge bench as a load generator, against oha and wrk, rerunnable by anyone (issue #6's figures).
#
#   max rate   each generator in turn, 64 connections, 10 s, against the same trivial endpoint (a sedge gateway's
#              /healthz on loopback): requests per second, and the generator's own CPU per 1,000 requests
#              (user + system time of the generator process, from getrusage).
#   open model sedge bench --rate 5000/s for 10 s: the achieved rate (goal: within 1 %) and dropped sends.
#
#   bench/generator.sh                     # builds target/release/sedge unless NO_BUILD=1
#   CONNECTIONS=32 SECONDS_EACH=5 bench/generator.sh
#
# Needs: cargo (or NO_BUILD=1), python3, and for the peers oha (`cargo install oha`) and wrk (apt-get install -y
# wrk); a missing peer is reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-64}
SECONDS_EACH=${SECONDS_EACH:-10}
RATE=${RATE:-5000}
[ "${NO_BUILD:-}" = 1 ] || cargo build --release -p sedge >/dev/null
SEDGE=${SEDGE:-$PWD/target/release/sedge}
state=$(mktemp -d)
log=$state/up.log
"$SEDGE" up --listen 127.0.0.1:0 --state "$state" >"$log" 2>&1 &
up=$!
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*' "$log" | head -1)/healthz"
echo "target: $url (sedge gateway on loopback), $CONNECTIONS connections, ${SECONDS_EACH}s each; $(nproc) cores"

# Runs a command, prints "<user+sys CPU seconds of the child> <its stdout>" on one line.
cpu_of() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write("%.3f\n%s" % (ru.ru_utime + ru.ru_stime, out.stdout))
if out.returncode not in (0, 99):
    sys.stderr.write(out.stderr)
    sys.exit(out.returncode)
PY
}

# The last JSON object of a text (sedge bench prints its summary, then --json /dev/stdout).
last_json() {
  python3 -c "
import sys
text = sys.stdin.read()
start = text.rfind('\n{')
sys.stdout.write(text[start + 1:] if start >= 0 else text)"
}

report() { # name cpu requests seconds
  python3 -c "import sys; n, cpu, req, s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]); print(f'| {n} | {req/s:,.0f} | {req:,.0f} | {cpu*1000/max(req,1)*1000:.1f} ms |')" "$@"
}

echo
echo "| generator | req/s | requests | generator CPU per 1,000 requests |"
echo "|---|---|---|---|"
out=$(cpu_of "$SEDGE" bench "$url" --vus "$CONNECTIONS" --duration "${SECONDS_EACH}s" --quiet --json /dev/stdout)
cpu=$(head -1 <<<"$out")
json=$(tail -n +2 <<<"$out" | last_json | python3 -c "
import json, sys
d = json.load(sys.stdin)['summary']
print(d['requests'], d['duration_s'])")
report "sedge bench (closed, $CONNECTIONS VUs)" "$cpu" $json
if command -v oha >/dev/null; then
  out=$(cpu_of oha -c "$CONNECTIONS" -z "${SECONDS_EACH}s" --no-tui --output-format json "$url")
  cpu=$(head -1 <<<"$out")
  json=$(tail -n +2 <<<"$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
total = sum(d['statusCodeDistribution'].values())
print(total, d['summary']['total'])")
  report "oha -c $CONNECTIONS" "$cpu" $json
else
  echo "| oha | not installed (cargo install oha) | | |"
fi
if command -v wrk >/dev/null; then
  out=$(cpu_of wrk -t 2 -c "$CONNECTIONS" -d "${SECONDS_EACH}s" "$url")
  cpu=$(head -1 <<<"$out")
  json=$(tail -n +2 <<<"$out" | python3 -c "
import re, sys
t = sys.stdin.read()
m = re.search(r'(\d+) requests in ([\d.]+)(\w+)', t)
unit = {'s': 1, 'ms': 1e-3, 'm': 60}[m.group(3)]
print(m.group(1), float(m.group(2)) * unit)")
  report "wrk -t 2 -c $CONNECTIONS" "$cpu" $json
else
  echo "| wrk | not installed (apt-get install -y wrk) | | |"
fi

echo
echo "open model: sedge bench --rate ${RATE}/s for ${SECONDS_EACH}s"
out=$("$SEDGE" bench "$url" --rate "${RATE}/s" --duration "${SECONDS_EACH}s" --max-inflight 1000 --quiet --json /dev/stdout)
last_json <<<"$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)['summary']
want = $RATE * $SECONDS_EACH
print(f'| target | sent | achieved rate | off by | dropped | latency p50 / p99 (from intended) | service time p99 |')
print(f'|---|---|---|---|---|---|---|')
rate = d['requests'] / $SECONDS_EACH
print(f\"| {$RATE:,}/s | {d['requests']:,} of {want:,} | {rate:,.1f}/s | {100 * (rate - $RATE) / $RATE:+.2f} % | {d['dropped']} | {d['latency']['p50_ms']:.2f} / {d['latency']['p99_ms']:.2f} ms | {d['service_time']['p99_ms']:.2f} ms |\")"

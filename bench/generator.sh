#!/usr/bin/env bash
# sedge bench as a load generator, against oha and wrk, rerunnable by anyone (issue #6's figures).
#
#   max rate   each generator in turn, 64 connections, 10 s, against the same trivial endpoint (a sedge gateway's
#              /healthz on loopback): requests per second, and the generator's own CPU per 1,000 requests
#              (user + system time of the generator process, from getrusage). The generators take turns for
#              ROUNDS rounds and each row is the round with the median rate, so that a noisy neighbour on a
#              shared machine hits all of them alike; the last line is sedge's median rate over oha's.
#   open model sedge bench --rate 5000/s for 10 s: the achieved rate (goal: within 1 %) and dropped sends.
#
#   bench/generator.sh                     # builds target/release/sedge unless NO_BUILD=1
#   CONNECTIONS=32 SECONDS_EACH=5 ROUNDS=5 bench/generator.sh
#
# Needs: cargo (or NO_BUILD=1), python3, and for the peers oha (`cargo install oha`) and wrk (apt-get install -y
# wrk); a missing peer is reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-64}
SECONDS_EACH=${SECONDS_EACH:-10}
RATE=${RATE:-5000}
ROUNDS=${ROUNDS:-3}
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

# One measurement: "<name>\t<cpu seconds>\t<requests>\t<seconds>" appended to $runs.
runs=$state/runs.tsv
measure() { # name command...
  local name=$1 out cpu numbers
  shift
  out=$(cpu_of "$@")
  cpu=$(head -1 <<<"$out")
  case $name in
    sedge*) numbers=$(tail -n +2 <<<"$out" | last_json | python3 -c "
import json, sys
d = json.load(sys.stdin)['summary']
print(d['requests'], d['duration_s'])") ;;
    oha*) numbers=$(tail -n +2 <<<"$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(sum(d['statusCodeDistribution'].values()), d['summary']['total'])") ;;
    wrk*) numbers=$(tail -n +2 <<<"$out" | python3 -c "
import re, sys
m = re.search(r'(\d+) requests in ([\d.]+)(\w+)', sys.stdin.read())
print(m.group(1), float(m.group(2)) * {'s': 1, 'ms': 1e-3, 'm': 60}[m.group(3)])") ;;
  esac
  printf '%s\t%s\t%s\n' "$name" "$cpu" "${numbers// /$'\t'}" >>"$runs"
}

sedge_name="sedge bench (closed, $CONNECTIONS VUs)"
peers=()
command -v oha >/dev/null && peers+=(oha) || echo "oha: not installed (cargo install oha), skipped"
command -v wrk >/dev/null && peers+=(wrk) || echo "wrk: not installed (apt-get install -y wrk), skipped"
for round in $(seq "$ROUNDS"); do
  measure "$sedge_name" "$SEDGE" bench "$url" --vus "$CONNECTIONS" --duration "${SECONDS_EACH}s" --quiet --json /dev/stdout
  for peer in "${peers[@]}"; do
    case $peer in
      oha) measure "oha -c $CONNECTIONS" oha -c "$CONNECTIONS" -z "${SECONDS_EACH}s" --no-tui --output-format json "$url" ;;
      wrk) measure "wrk -t 2 -c $CONNECTIONS" wrk -t 2 -c "$CONNECTIONS" -d "${SECONDS_EACH}s" "$url" ;;
    esac
  done
done

echo
python3 - "$runs" "$ROUNDS" <<'PY'
import sys
from collections import defaultdict
runs = defaultdict(list)  # name -> [(req/s, requests, cpu ms per 1,000 requests)], in order of appearance
for line in open(sys.argv[1]):
    name, cpu, requests, seconds = line.rstrip("\n").split("\t")
    cpu, requests, seconds = float(cpu), float(requests), float(seconds)
    runs[name].append((requests / seconds, requests, cpu * 1e6 / max(requests, 1)))
print(f"| generator | req/s (median of {sys.argv[2]}) | requests | generator CPU per 1,000 requests | req/s of each round |")
print("|---|---|---|---|---|")
median = {}
for name, rounds in runs.items():
    rate, requests, cpu = sorted(rounds)[len(rounds) // 2]
    median[name] = rate
    each = ", ".join(f"{r:,.0f}" for r, _, _ in rounds)
    print(f"| {name} | {rate:,.0f} | {requests:,.0f} | {cpu:.1f} ms | {each} |")
sedge = next(iter(median.values()))
oha = [rate for name, rate in median.items() if name.startswith("oha")]
if oha:
    print(f"\nsedge bench / oha (median req/s): {sedge / oha[0]:.2f}")
PY

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

#!/usr/bin/env bash
# Scale to zero and autoscaling, rerunnable by anyone. Against a `sedge up --listen 127.0.0.1:0 --state <tmp>`
# that it starts (loopback only), it measures:
#
#   wake        scale from zero → first response byte, p50/p99 over WAKES (100) wake-ups each, for a fork-mode
#               `cat`, a python3-http handler that imports numpy at module level (prebaked, the default, and with
#               SEDGE_PREBAKE=false) and the MNIST model function (tract; ENGINES="tract ort" adds onnxruntime).
#               Each wake-up: scale to 0, confirm replicas == availableReplicas == 0, wait SETTLE_MS (100), then
#               one POST on a connected socket, timed send → first byte; X-Sedge-Cold-Start must say true and
#               X-Sedge-Cold-Start-Ms (sedge's own view of the wait) is reported beside it.
#   concurrent  BURST_N (1,000) concurrent requests, one connection each (asyncio), to a function at zero (fork
#               `cat` and the prebaked numpy function), BURSTS (3) times: failures (goal 0), time until all were
#               answered, how many were marked cold, replicas after.
#   step        closed-loop step load c = 1 → 64 → 1 (30 s, 60 s, 60 s) against a python3-http handler that
#               sleeps 10 ms, autoscaled with scale.type rps, target 20, min 1, max 10, down.window 30s; replicas
#               sampled every 250 ms, latency p50/p99 and throughput per second → step.svg (drawn by hand: two
#               panels), step_replicas.csv, step_latency.csv; time from each step to the new steady state
#               (replica count unchanged for 10 s). sedge's rps is a rate over 30 s, so with down.window 30s the
#               scale-down lands about 60 s after the load drops: STEP_AFTER_S=120 shows it settle.
#   loop        the autoscaler's own cost: sedge's CPU time (utime+stime, /proc/<pid>/stat) over 30 s idle with
#               1,000 fork-mode `cat` functions labelled scale.type rps, against 1,000 without scale labels, at
#               --autoscale-interval 1s, and an instance with no functions; CPU per tick = difference / ticks.
#
# Published cold-start anchors to compare the wake figures with (different hardware and, for them, containers):
# faasd 190–390 ms, OpenFaaS on Kubernetes 0.7–2 s, Knative 2–4 s. Goals here: fork `cat` p50/p99 ≤ 20 ms,
# python3-http + numpy prebaked ≤ 50 ms, MNIST ≤ 30 ms, 0 failures at 1,000 concurrent.
#
#   bench/scaling.sh                     # all four parts (about 10 minutes after the release build)
#   bench/scaling.sh wake                # only some parts: wake concurrent step loop
#   WAKES=20 BURST_N=200 BURSTS=1 STEP_HIGH_S=20 STEP_AFTER_S=40 LOOP_SECONDS=10 bench/scaling.sh   # quick check
#   OUT=/tmp/scaling NO_BUILD=1 bench/scaling.sh step    # another output folder; reuse target/release/sedge
#
# Needs python3 (standard library only) with the venv module and pip reaching PyPI or a wheel cache (`sedge build`
# installs numpy into the handler's bundle), curl, and the release build (cargo, unless NO_BUILD=1). Writes
# results.json, CSV files of every sample, step.svg, build.log and copies of sedge's logs (logs-*/) to OUT
# (default target/bench-scaling/); prints Markdown tables for BENCHMARKS.md. Models come from shared/models
# (MODELS=DIR to override). KEEP_STATE=1 keeps the state folder of the wake/concurrent/step instance.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/target/bench-scaling}
if [ $# -gt 0 ]; then PARTS="$*"; else PARTS=${PARTS:-"wake concurrent step loop"}; fi
for p in $PARTS; do
  case $p in wake|concurrent|step|loop) ;; *) echo "unknown part '$p': use wake, concurrent, step or loop" >&2; exit 2;; esac
done

missing=0
need() { command -v "$1" >/dev/null || { echo "missing tool: $1 — $2" >&2; missing=1; }; }
need python3 "install Python 3.9 or newer (apt-get install -y python3 python3-venv)"
need curl "apt-get install -y curl"
[ "${NO_BUILD:-}" = 1 ] || need cargo "the Rust toolchain (rustup), or set NO_BUILD=1 with target/release/sedge built"
[ $missing = 0 ] || exit 1
python3 -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null \
  || { echo "python3 is older than 3.9" >&2; exit 1; }
if [[ " $PARTS " == *" wake "* || " $PARTS " == *" concurrent "* ]]; then
  python3 -c 'import venv, ensurepip' 2>/dev/null \
    || { echo "python3's venv module (with ensurepip) is missing: apt-get install -y python3-venv" >&2; exit 1; }
fi
if [ -z "${MODELS:-}" ]; then
  for d in "$ROOT/shared/models" "$ROOT/../shared/models"; do [ -f "$d/mnist_cnn.onnx" ] && MODELS=$(cd "$d" && pwd) && break; done
fi
[ -f "${MODELS:-}/mnist_cnn.onnx" ] || { echo "models not found: set MODELS to the folder of mnist_cnn.onnx" >&2; exit 1; }
if [[ " ${ENGINES:-} " == *" ort "* && -z "${ORT_DYLIB_PATH:-}" ]]; then
  # The onnxruntime that bench/models.sh installs, when there is one.
  ORT_DYLIB_PATH=$(ls "$ROOT"/target/bench-venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -1 || true)
  [ -n "$ORT_DYLIB_PATH" ] || { echo "ENGINES has ort but no onnxruntime: run bench/models.sh venv or set ORT_DYLIB_PATH" >&2; exit 1; }
  export ORT_DYLIB_PATH
fi

# 1,000 concurrent connections on the client side, as many on sedge's side, and sedge's own files.
want_fds=8192
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $want_fds ]; then
  ulimit -n $want_fds 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" -lt 2100 ]; then
    echo "ulimit -n is $(ulimit -n) and cannot be raised to 2100 or more (hard limit $(ulimit -Hn)): the concurrent part needs it" >&2
    exit 1
  fi
fi

if [ "${NO_BUILD:-}" != 1 ]; then
  cargo build --release -q -p sedge --bin sedge
fi
SEDGE=${SEDGE:-$ROOT/target/release/sedge}
[ -x "$SEDGE" ] || { echo "$SEDGE not built: cargo build --release -p sedge" >&2; exit 1; }
mkdir -p "$OUT"

export PYTHONDONTWRITEBYTECODE=1
echo "bench/scaling.sh: parts $PARTS → $OUT" >&2
python3 "$ROOT/bench/scaling/run.py" --sedge "$SEDGE" --out "$OUT" --models "$MODELS" $PARTS

python3 "$ROOT/bench/scaling/summary.py" "$OUT/results.json" $PARTS
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); $(uptime | sed 's/.*load average/load average/') (at the end)"
echo "sedge: $(git describe --always --dirty 2>/dev/null || echo '?'), binary built $(date -r "$SEDGE" '+%F %T'); raw results in $OUT"

#!/usr/bin/env bash
# Issue #4's figures (model functions), rerunnable by anyone: the raw onnxruntime baseline, sedge's /v2 latency
# at c=1, sedge against MLServer (the peer) at c=1 and c=32, adaptive batching on/off, a large model's
# throughput against raw onnxruntime, and cold start (deploy → first answer) against a fresh Python process.
# Load from wrk (Debian package `wrk`) on loopback; the Python side (onnxruntime, MLServer) lives in a venv under
# target/bench-venv, pinned by bench/models/requirements.txt. Prints Markdown tables for BENCHMARKS.md.
#
#   bench/models.sh                          # everything (about 5 minutes after the release build)
#   bench/models.sh latency peer             # only these parts: venv raw latency peer batching large cold
#   DURATION=2s ROUNDS=2 bench/models.sh     # quick check
#   ENGINES=tract bench/models.sh            # skip onnxruntime in sedge (default: tract ort, ort if it loads)
#
# Models come from shared/models (MODELS=DIR to override). The `ort` engine loads libonnxruntime from
# ORT_DYLIB_PATH; unset, it is pointed at the venv's (the same onnxruntime the raw baseline runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}                     # cold-start rounds (fresh function names) and hyperfine runs
CALLS=${CALLS:-20000}                   # raw mnist sess.run calls
PORT=${PORT:-18280}
PEER_PORT=${PEER_PORT:-18290}           # MLServer uses PEER_PORT .. PEER_PORT+2 (HTTP, gRPC, metrics)
ENGINES=${ENGINES:-"tract ort"}
if [ $# -gt 0 ]; then PARTS="$*"; else PARTS=${PARTS:-"venv raw latency peer batching large cold"}; fi
if [ -z "${MODELS:-}" ]; then
  for d in "$ROOT/shared/models" "$ROOT/../shared/models"; do [ -f "$d/mnist_cnn.onnx" ] && MODELS=$(cd "$d" && pwd) && break; done
fi
[ -f "${MODELS:-}/mnist_cnn.onnx" ] || { echo "models not found: set MODELS to the folder of mnist_cnn.onnx" >&2; exit 1; }
FIX=$MODELS/fixtures
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
want() { [[ " $PARTS " == *" $1 "* ]]; }
secs() { local d=$1; case $d in *ms) echo "0.${d%ms}";; *s) echo "${d%s}";; *m) echo "$(( ${d%m} * 60 ))";; *) echo "$d";; esac; }

# --- Python venv -----------------------------------------------------------------------------------------------
VENV=$ROOT/target/bench-venv
PY=$VENV/bin/python
REQS=$ROOT/bench/models/requirements.txt
if ! cmp -s "$REQS" "$VENV/.bench-requirements" 2>/dev/null; then
  echo "creating $VENV from $REQS" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REQS"
  cp "$REQS" "$VENV/.bench-requirements"
fi
if want venv; then
  echo
  echo "### Versions"
  echo
  echo "| what | version |"
  echo "|---|---|"
  echo "| Python | $("$PY" -c 'import platform; print(platform.python_version())') |"
  "$VENV/bin/pip" freeze | grep -iE '^(onnxruntime|numpy|mlserver|uvicorn|fastapi|uvloop)==' | sed 's/==/ | /; s/^/| /; s/$/ |/'
  echo "| wrk | $(wrk -v 2>&1 | head -1 | awk '{print $2}') |"
  command -v hyperfine >/dev/null && echo "| hyperfine | $(hyperfine --version | awk '{print $2}') |"
  echo "| sedge | $(git describe --always --dirty 2>/dev/null || echo '?') |"
fi
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
  ORT_DYLIB_PATH=$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)
fi
export ORT_DYLIB_PATH

WORK=$(mktemp -d)
RESULTS=${RESULTS:-$WORK/results}
: >"$RESULTS"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
put() { echo "$1 $2" >>"$RESULTS"; }
table() { "$PY" "$ROOT/bench/models/summary.py" "$RESULTS" "$1"; }

# wrk --latency → "req/s p50_ms p99_ms errors" (errors: non-2xx answers plus socket errors)
measure() { # url connections body [header_len]
  local threads=$(( $2 < 2 ? 1 : 2 )) out
  out=$(BODY=$3 HEADER_LEN=${4:-} wrk -t$threads -c"$2" -d"$DURATION" --timeout 5s --latency \
        -s "$ROOT/bench/models/post_file.lua" "$1")
  awk '
    function tms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = tms($2) } $1 == "99%" { p99 = tms($2) }
    /Non-2xx/ { err += $4 }
    /Socket errors/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    END { printf "%s %.4f %.4f %d\n", rps, p50, p99, err }' <<<"$out"
}

# Runs wrk and stores the figures under prefix; with a function name, also sedge's engine time and batch size.
record() { # prefix url connections body header_len [function]
  local before="" after rps p50 p99 err eng bat
  [ -n "${6:-}" ] && before=$("$PY" "$ROOT/bench/models/prom.py" "http://127.0.0.1:$PORT/metrics" "$6")
  read -r rps p50 p99 err < <(measure "$2" "$3" "$4" "$5")
  put "$1_rps" "$rps"; put "$1_p50" "$p50"; put "$1_p99" "$p99"; put "$1_err" "$err"
  if [ -n "$before" ]; then
    after=$("$PY" "$ROOT/bench/models/prom.py" "http://127.0.0.1:$PORT/metrics" "$6")
    read -r eng bat < <(awk -v a="$before" -v b="$after" 'BEGIN { split(a, x); split(b, y);
      n = y[2] - x[2]; m = y[4] - x[4];
      printf "%s %s\n", (n > 0 ? (y[1] - x[1]) / n * 1000 : "-"), (m > 0 ? (y[3] - x[3]) / m : "-") }')
    put "$1_engine_ms" "$eng"; put "$1_batch" "$bat"
  fi
  echo "  $1: $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $err" >&2
}

# --- raw onnxruntime baseline ----------------------------------------------------------------------------------
if want raw || want large || want latency; then
  echo "raw onnxruntime baseline…" >&2
  while read -r k v; do
    case $k in
      mnist_p50_ms) put raw_mnist_p50 "$v";; mnist_p99_ms) put raw_mnist_p99 "$v";;
      mnist_b1_per_s) put raw_mnist_per_s "$v";; mobilenet_b1_per_s) put raw_mb_b1 "$v";;
      mobilenet_b2_per_s) put raw_mb_b2 "$v";; mobilenet_2callers_per_s) put raw_mb_2callers "$v";;
    esac
  done < <("$PY" "$ROOT/bench/models/raw_ort.py" "$MODELS" --calls "$CALLS" --seconds "$(secs "$DURATION")")
  want raw && table raw
fi

# --- sedge -----------------------------------------------------------------------------------------------------
needs_sedge=0
for p in latency peer batching large cold; do want $p && needs_sedge=1; done
if [ $needs_sedge = 1 ]; then
  cargo build --release -q -p sedge --bin sedge
  SEDGE=$ROOT/target/release/sedge
  STATE=$WORK/state
  "$SEDGE" up --listen 127.0.0.1:$PORT --state "$STATE" >"$WORK/sedge.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.05; done
  curl -sf http://127.0.0.1:$PORT/healthz >/dev/null || { cat "$WORK/sedge.log" >&2; exit 1; }
  PW=$(cat "$STATE/secrets/basic-auth-password")
  export SEDGE_GATEWAY=http://127.0.0.1:$PORT SEDGE_STATE=$STATE
  deployed=" "
  # deploy NAME MODEL ENGINE MAX_BATCH [REPLICAS]: a ModelFunction through `sedge deploy -f`, then waits for ready.
  deploy() {
    [[ "$deployed" == *" $1 "* ]] && return 0
    local f=$WORK/$1.yml
    cat >"$f" <<EOF
apiVersion: sedge.dev/v1
kind: ModelFunction
metadata: { name: $1 }
spec:
  model: $2
  engine: $3
  threads: 1
  batching: { maxBatchSize: $4, maxQueueDelay: 0 }
  scaling: { min: ${5:-1}, max: ${5:-1} }
EOF
    "$SEDGE" deploy -f "$f" >"$WORK/deploy-$1.log" 2>&1 || { cat "$WORK/deploy-$1.log" >&2; return 1; }
    for _ in $(seq 600); do curl -sf http://127.0.0.1:$PORT/v2/models/$1/ready >/dev/null && break; sleep 0.05; done
    deployed="$deployed$1 "
  }
  if [[ " $ENGINES " == *" ort "* ]]; then
    if ! deploy probe-ort "$MODELS/mnist_cnn.onnx" ort 32 2>"$WORK/ort-probe.err"; then
      echo "engine ort not available, measuring tract only: $(tr '\n' ' ' <"$WORK/ort-probe.err")" >&2
      put ort_unavailable "$(tr '\n ' '  ' <"$WORK/ort-probe.err" | head -c 300)"
      ENGINES=${ENGINES//ort/}
    fi
  fi
  MNIST_BODY=$FIX/mnist_cnn_b1.json
fi

if want latency; then
  echo "sedge c=1 latency…" >&2
  for e in $ENGINES; do
    deploy mnist-$e "$MODELS/mnist_cnn.onnx" "$e" 32
    record lat_$e http://127.0.0.1:$PORT/v2/models/mnist-$e/infer 1 "$MNIST_BODY" "" mnist-$e
  done
  table latency
fi

c32() { # engine max_batch (once per run)
  grep -q "^c32_$1_b$2_rps " "$RESULTS" && return 0
  deploy mnist-$1-b$2 "$MODELS/mnist_cnn.onnx" "$1" "$2"
  record c32_$1_b$2 http://127.0.0.1:$PORT/v2/models/mnist-$1-b$2/infer 32 "$MNIST_BODY" "" mnist-$1-b$2
}

if want peer; then
  echo "MLServer peer…" >&2
  MLS=$WORK/mlserver
  cp -r "$ROOT/bench/models/mlserver_onnx" "$MLS"
  "$PY" - "$MLS/settings.json" "$PEER_PORT" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); p = int(sys.argv[2])
s.update(http_port=p, grpc_port=p + 1, metrics_port=p + 2)
json.dump(s, open(sys.argv[1], "w"))
PY
  (cd "$MLS" && MODELS_DIR=$MODELS exec "$VENV/bin/mlserver" start . >"$WORK/mlserver.log" 2>&1) &
  MLS_PID=$!
  pids+=($MLS_PID)
  for _ in $(seq 300); do curl -sf http://127.0.0.1:$PEER_PORT/v2/models/mnist/ready >/dev/null && break; sleep 0.1; done
  curl -sf http://127.0.0.1:$PEER_PORT/v2/models/mnist/ready >/dev/null || { cat "$WORK/mlserver.log" >&2; exit 1; }
  record peer_c1 http://127.0.0.1:$PEER_PORT/v2/models/mnist/infer 1 "$MNIST_BODY" ""
  record peer_c32 http://127.0.0.1:$PEER_PORT/v2/models/mnist/infer 32 "$MNIST_BODY" ""
  kill "$MLS_PID" 2>/dev/null || true
  wait "$MLS_PID" 2>/dev/null || true
  for e in $ENGINES; do
    grep -q "^lat_${e}_rps " "$RESULTS" || { deploy mnist-$e "$MODELS/mnist_cnn.onnx" "$e" 32;
      record lat_$e http://127.0.0.1:$PORT/v2/models/mnist-$e/infer 1 "$MNIST_BODY" "" mnist-$e; }
    c32 "$e" 32
  done
  table peer
fi

if want batching; then
  echo "batching on/off…" >&2
  for e in $ENGINES; do c32 "$e" 32; c32 "$e" 1; done
  table batching
fi

if want large; then
  echo "mobilenetv2 throughput…" >&2
  MB_BIN=$WORK/mobilenet_b1.bin
  MB_HDR=$("$PY" "$ROOT/bench/models/make_bodies.py" "$FIX/imagenet224_b1.json" "$MB_BIN")
  url() { echo "http://127.0.0.1:$PORT/v2/models/$1/infer"; }
  # The raw figure again, right beside sedge's runs, so that drift in the machine's speed cancels out.
  put large_raw_b1 "$("$PY" "$ROOT/bench/models/raw_ort.py" "$MODELS" --mobilenet-b1-only --seconds "$(secs "$DURATION")" | awk '{print $2}')"
  for e in $ENGINES; do
    deploy mobilenet-$e "$MODELS/mobilenetv2_random.onnx" "$e" 32
    record large_$e "$(url mobilenet-$e)" 2 "$MB_BIN" "$MB_HDR" mobilenet-$e
    if [ "$e" = ort ]; then
      record large_ortjson "$(url mobilenet-ort)" 2 "$FIX/imagenet224_b1.json" "" mobilenet-ort
      deploy mobilenet-ort2 "$MODELS/mobilenetv2_random.onnx" ort 32 2
      record large_ort2 "$(url mobilenet-ort2)" 2 "$MB_BIN" "$MB_HDR" mobilenet-ort2
    fi
  done
  table large
fi

if want cold; then
  echo "cold start…" >&2
  put rounds "$ROUNDS"
  for m in mnist centerface; do
    case $m in
      mnist) model=$MODELS/mnist_cnn.onnx; body=$FIX/mnist_cnn_b1.json;;
      centerface) model=$MODELS/centerface_dynamic.onnx; body=$FIX/centerface_256_b1.json;;
    esac
    for e in $ENGINES; do
      read -r med lo hi dep < <("$PY" "$ROOT/bench/models/cold_start.py" "http://127.0.0.1:$PORT" "$PW" "$model" \
        "engine: $e" "$body" --rounds "$ROUNDS" --prefix "cold-$m-$e-")
      put cold_${m}_${e}_median "$med"; put cold_${m}_${e}_min "$lo"; put cold_${m}_${e}_max "$hi"
      put cold_${m}_${e}_deploy "$dep"
    done
    # The peer: a fresh Python process that imports onnxruntime, loads the model and answers one request.
    if command -v hyperfine >/dev/null; then
      hyperfine -N --warmup 1 --runs "$ROUNDS" --export-json "$WORK/hf-$m.json" \
        "$PY $ROOT/bench/models/cold_python.py $model $body" >/dev/null 2>&1
      put cold_py_${m}_median "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"]*1000)' "$WORK/hf-$m.json")"
    else
      "$PY" "$ROOT/bench/models/cold_python.py" "$model" "$body" >/dev/null   # warm the page cache
      ts=()
      for _ in $(seq "$ROUNDS"); do
        t0=$(date +%s%N); "$PY" "$ROOT/bench/models/cold_python.py" "$model" "$body" >/dev/null; t1=$(date +%s%N)
        ts+=($(( (t1 - t0) / 1000 )))
      done
      put cold_py_${m}_median "$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] / 1000}')"
    fi
  done
  table cold
fi

table goals
if grep -q '^ort_unavailable ' "$RESULTS"; then
  echo
  echo "engine ort was not measured: $(sed -n 's/^ort_unavailable //p' "$RESULTS")"
fi
echo
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load average/load average/') (at the end); DURATION=$DURATION"

#!/usr/bin/env bash
# Issue #7's trainer figures, rerunnable by anyone: `sedge train gbdt` against XGBoost and scikit-learn on the
# shipped taxi data at seed 004's light and heavy settings, and `sedge train cnn` on the shipped MNIST split against
# the shipped reference CNN (and `sedge train mlp` on ionosphere). Prints Markdown tables for BENCHMARKS.md.
#
#   bench/train.sh                         # everything (build, venv, gbdt light + heavy, cnn + mlp): ~12 minutes
#   bench/train.sh gbdt                    # only these parts: versions gbdt cnn
#   HEAVY_TREES=20000 bench/train.sh gbdt  # a smaller heavy run (default 100000, seed 004's)
#   ROUNDS=1 bench/train.sh                # one run per light measurement (default: best of 3)
#   SEDGE=target/release/sedge bench/train.sh   # skip the build
#
# GBDT, both sides: the taxi CSV (rownames dropped; company, local, dow, month one-hot encoded; distance, hour
# numeric; target tip yes/no as 0/1, regressed with squared error, as the reference gbt_taxi_xgb.onnx), rows
# 0, 5, 10, … held out (sedge's --test-every 5), depth 6, λ 1, min_child_weight 1, histogram splits with 256 bins
# (scikit-learn: 255, its maximum), base score the training mean; light = learning rate 0.01 × 10,000 trees, heavy
# = 0.001 × 100,000. Times are the fit alone (CSV parsing excluded on both sides). sedge's GBDT runs on one
# thread, so the comparison is one thread each (OMP_NUM_THREADS=1); XGBoost also runs on every core, for
# reference. (On a box shared with other work, OpenMP's spinning threads can make multi-threaded runs many times
# slower than one thread: read those rows with care.)
#
# The Python side (xgboost-cpu, scikit-learn, pandas, onnxruntime to score the ONNX files) lives in a venv under
# target/bench-train-venv, with the pins below.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-3}
LIGHT_TREES=${LIGHT_TREES:-10000}
HEAVY_TREES=${HEAVY_TREES:-100000}
CORES=$(nproc)
if [ $# -gt 0 ]; then PARTS="$*"; else PARTS=${PARTS:-"versions gbdt cnn"}; fi
want() { [[ " $PARTS " == *" $1 "* ]]; }
if [ -z "${DATA:-}" ]; then
  for d in "$ROOT/shared/data" "$ROOT/../shared/data"; do [ -f "$d/chicago_taxi_modeldata.csv" ] && DATA=$(cd "$d" && pwd) && break; done
fi
[ -f "${DATA:-}/chicago_taxi_modeldata.csv" ] || { echo "data not found: set DATA to the shared/data folder" >&2; exit 1; }
MODELS=${MODELS:-$(cd "$DATA/../models" 2>/dev/null && pwd || true)}

# --- sedge, release ----------------------------------------------------------------------------------------------
SEDGE=${SEDGE:-}
if [ -z "$SEDGE" ]; then
  echo "building sedge (release)" >&2
  cargo build --release -p sedge >&2
  SEDGE=$ROOT/target/release/sedge
fi

# --- Python venv -------------------------------------------------------------------------------------------------
VENV=$ROOT/target/bench-train-venv
PY=$VENV/bin/python
PINS="xgboost-cpu==3.2.0 scikit-learn==1.9.1 pandas==3.1.1 numpy==2.4.6 scipy==1.17.1 onnxruntime==1.31.1"
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
  echo "creating $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q $PINS
  echo "$PINS" >"$VENV/.pins"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if want versions; then
  echo
  echo "### Versions"
  echo
  echo "| what | version |"
  echo "|---|---|"
  echo "| machine | $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB |"
  echo "| Python | $("$PY" -c 'import platform; print(platform.python_version())') |"
  "$VENV/bin/pip" freeze | grep -iE '^(xgboost-cpu|scikit-learn|pandas|numpy|onnxruntime)==' | sed 's/==/ | /; s/^/| /; s/$/ |/'
  echo "| sedge | $(git describe --always --dirty 2>/dev/null || echo '?') |"
fi

# --- GBDT ----------------------------------------------------------------------------------------------------------
cat >"$WORK/gbdt.py" <<'EOF'
"""One GBDT fit on the taxi data: prints `seconds train_rmse test_rmse`."""
import sys, time
import numpy as np, pandas as pd

lib, lr, trees, threads, method = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
df = pd.read_csv(sys.argv[6]).drop(columns=["rownames"])
y = (df.pop("tip") == "yes").astype(np.float64).to_numpy()
X = pd.get_dummies(df, columns=["company", "local", "dow", "month"], dtype=np.float32).to_numpy(np.float32)
test = np.arange(len(y)) % 5 == 0
Xtr, ytr, Xte, yte = X[~test], y[~test], X[test], y[test]
if lib == "xgboost":
    import xgboost as xgb
    model = xgb.XGBRegressor(n_estimators=trees, learning_rate=lr, max_depth=6, tree_method=method, max_bin=256,
                             reg_lambda=1.0, min_child_weight=1.0, base_score=float(ytr.mean()), n_jobs=threads)
else:
    from sklearn.ensemble import HistGradientBoostingRegressor
    model = HistGradientBoostingRegressor(learning_rate=lr, max_iter=trees, max_depth=6, max_leaf_nodes=None,
                                          min_samples_leaf=1, l2_regularization=1.0, max_bins=255,
                                          early_stopping=False)
start = time.perf_counter()
model.fit(Xtr, ytr)
seconds = time.perf_counter() - start
rmse = lambda X, y: float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))
print(f"{seconds:.3f} {rmse(Xtr, ytr):.6f} {rmse(Xte, yte):.6f}")
EOF

# sedge's GBDT → "seconds train_rmse test_rmse" from its JSON summary (the fit alone, as the Python side).
sedge_gbdt() { # learning_rate trees method
  "$SEDGE" train gbdt --data "$DATA/chicago_taxi_modeldata.csv" --target tip --drop rownames --depth 6 \
    --learning-rate "$1" --trees "$2" --method "$3" -o "$WORK/taxi.onnx" 2>/dev/null |
    "$PY" -c 'import json, sys; m = json.load(sys.stdin)["metrics"]; print("%.3f %.6f %.6f" % (m["train_seconds"], m["train_rmse"], m["test_rmse"]))'
}
python_gbdt() { # lib learning_rate trees threads method
  OMP_NUM_THREADS=$4 "$PY" "$WORK/gbdt.py" "$1" "$2" "$3" "$4" "$5" "$DATA/chicago_taxi_modeldata.csv"
}
# Best (lowest time) of $1 runs of the rest of the command line; RMSEs are the same every run.
best_of() {
  local n=$1 best="" line
  shift
  for _ in $(seq "$n"); do
    line=$("$@")
    if [ -z "$best" ] || awk -v a="${line%% *}" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then best=$line; fi
  done
  echo "$best"
}

if want gbdt; then
  ROWS=()
  row() { # preset what threads result reference_seconds
    local s r1 r2
    read -r s r1 r2 <<<"$4"
    local ratio="—"
    [ -n "${5:-}" ] && ratio=$(awk -v a="$s" -v b="$5" 'BEGIN { printf "%.2f×", a / b }')
    ROWS+=("| $1 | $2 | $3 | $(printf '%.2f' "$s") s | $ratio | $r1 | $r2 |")
  }
  for preset in light heavy; do
    if [ $preset = light ]; then lr=0.01 trees=$LIGHT_TREES rounds=$ROUNDS; else lr=0.001 trees=$HEAVY_TREES rounds=1; fi
    setting="$preset ($lr × $trees)"
    echo "gbdt $setting" >&2
    xgb=$(best_of "$rounds" python_gbdt xgboost $lr "$trees" 1 hist)
    xgb_s=${xgb%% *}
    row "$setting" "XGBoost hist" 1 "$xgb"
    row "$setting" "**sedge hist**" 1 "$(best_of "$rounds" sedge_gbdt $lr "$trees" hist)" "$xgb_s"
    row "$setting" "scikit-learn HistGradientBoosting" 1 "$(best_of "$rounds" python_gbdt sklearn $lr "$trees" 1 hist)" "$xgb_s"
    row "$setting" "XGBoost hist" "$CORES" "$(best_of "$rounds" python_gbdt xgboost $lr "$trees" "$CORES" hist)" "$xgb_s"
    if [ $preset = light ]; then
      row "$setting" "XGBoost exact" 1 "$(best_of 1 python_gbdt xgboost $lr "$trees" 1 exact)" "$xgb_s"
      row "$setting" "sedge exact" 1 "$(best_of 1 sedge_gbdt $lr "$trees" exact)" "$xgb_s"
    fi
  done
  echo
  echo "### GBDT on the taxi data (8,000 training rows, 2,000 held out, 22 features, depth 6)"
  echo
  echo "| setting | trainer | threads | fit time | time / XGBoost hist | train RMSE | test RMSE |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo "| seed 004 light (0.01 × 10000) | XGBoost, the seed's data | — | — | — | 0.07478 (published) | — |"
  echo "| seed 004 heavy (0.001 × 100000) | XGBoost, the seed's data | — | — | — | 0.02578 (published) | — |"
fi

# --- CNN -----------------------------------------------------------------------------------------------------------
cat >"$WORK/score.py" <<'EOF'
"""Accuracy of an ONNX digit classifier on IDX test files, run by onnxruntime: prints the accuracy."""
import gzip, sys
import numpy as np, onnxruntime as ort

def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)

images = idx(sys.argv[2], 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
labels = idx(sys.argv[3], 8)
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
probabilities = session.run(None, {session.get_inputs()[0].name: images})[0]
print(f"{float(np.mean(probabilities.argmax(axis=1) == labels)):.4f}")
EOF

if want cnn; then
  TI=$DATA/mnist-8k-train-images-idx3-ubyte.gz TL=$DATA/mnist-8k-train-labels-idx1-ubyte.gz
  SI=$DATA/mnist-2k-test-images-idx3-ubyte.gz SL=$DATA/mnist-2k-test-labels-idx1-ubyte.gz
  echo
  echo "### CNN on the shipped MNIST split (8,000 training digits, 2,000 test)"
  echo
  echo "sedge: \`sedge train cnn\` at its defaults (conv8-pool-conv16-pool-fc64-fc10, Adam, learning rate 0.002 on a"
  echo "cosine schedule, 15 epochs of 32)."
  echo
  echo "| model | seed | threads | training time | test accuracy (sedge) | test accuracy (onnxruntime on the .onnx) |"
  echo "|---|---|---|---|---|---|"
  for run in "1 1" "1 $CORES" "2 $CORES" "3 $CORES"; do
    read -r seed threads <<<"$run"
    echo "cnn: seed $seed, $threads thread(s)" >&2
    summary=$("$SEDGE" train cnn --train-images "$TI" --train-labels "$TL" --test-images "$SI" --test-labels "$SL" \
      --seed "$seed" --threads "$threads" -o "$WORK/digits.onnx" 2>"$WORK/cnn-$seed.log")
    read -r seconds accuracy < <(echo "$summary" | "$PY" -c 'import json, sys; m = json.load(sys.stdin)["metrics"]; print("%.1f %.4f" % (m["train_seconds"], m["test_accuracy"]))')
    echo "| sedge cnn | $seed | $threads | $seconds s | $accuracy | $("$PY" "$WORK/score.py" "$WORK/digits.onnx" "$SI" "$SL") |"
  done
  if [ -f "$MODELS/mnist_cnn.onnx" ]; then
    echo "| shipped mnist_cnn.onnx (the same layers, trained elsewhere; its README says 0.962) | — | — | — | — | $("$PY" "$WORK/score.py" "$MODELS/mnist_cnn.onnx" "$SI" "$SL") |"
  fi
  echo
  echo "Seed 1's epochs:"
  echo
  echo '```'
  grep '^epoch' "$WORK/cnn-1.log"
  echo '```'

  echo
  echo "### MLP on ionosphere (280 training rows, 71 held out)"
  echo
  echo "| model | training time | test accuracy | train accuracy |"
  echo "|---|---|---|---|"
  summary=$("$SEDGE" train mlp --data "$DATA/ionosphere.csv" --target Class -o "$WORK/ionosphere.onnx" 2>/dev/null)
  echo "| sedge mlp: 34-64-2, Adam 0.001 cosine, 100 epochs of 32 | $(echo "$summary" | "$PY" -c 'import json, sys; m = json.load(sys.stdin)["metrics"]; print("%.2f s | %.4f | %.4f" % (m["train_seconds"], m["test_accuracy"], m["train_accuracy"]))') |"
  echo "| shipped ionosphere_mlp.onnx (34-10-8-1, its own split) | — | 0.905 (its README) | — |"
fi

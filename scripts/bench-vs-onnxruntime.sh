#!/usr/bin/env bash
# hourhand's CPU backend and ONNX Runtime on the same network, weights and thread count, side by
# side: exports the network to ONNX, then times both in alternating rounds (hourhand, ORT,
# hourhand, ORT, ...) so drift on a shared machine hits both alike, and prints the medians and
# their ratio at each batch size.
#
#   scripts/bench-vs-onnxruntime.sh [--rounds 5] [--seconds 2] [--threads N] [--batch 1,32]
#                                   [--weights W.safetensors]
#
# Needs python3 (with venv) and network access to PyPI the first time: ONNX Runtime and numpy go
# into target/bench-vs-onnxruntime/venv. Default weights: freshly initialized paper-sized ones
# (seed 1, what `hourhand bench` uses); default threads: all cores.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 seconds=2 threads=$(nproc) batch=1,32 weights=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --weights) weights=$2; shift 2 ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

work=target/bench-vs-onnxruntime
mkdir -p "$work"
venv="$work/venv"
if ! "$venv/bin/python" -c 'import onnxruntime, numpy' 2>/dev/null; then
  echo "setting up ONNX Runtime in $venv (PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet onnxruntime numpy
fi

cargo build --release --locked --quiet
bin=target/release/hourhand
if [ -z "$weights" ]; then
  weights="$work/weights.safetensors"
  "$bin" init --out "$weights" --seed 1 --force >/dev/null
fi
"$bin" export --onnx "$work/model.onnx" --weights "$weights" --force

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $threads threads each"
: >"$work/hourhand.jsonl"
: >"$work/onnxruntime.jsonl"
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds"
  RAYON_NUM_THREADS=$threads "$bin" bench --backend cpu --weights "$weights" --batch "$batch" \
    --seconds "$seconds" --json >>"$work/hourhand.jsonl"
  "$venv/bin/python" scripts/ort_bench.py time "$work/model.onnx" --threads "$threads" \
    --batch "$batch" --seconds "$seconds" >>"$work/onnxruntime.jsonl"
done
"$venv/bin/python" scripts/ort_bench.py summary "$work/hourhand.jsonl" "$work/onnxruntime.jsonl"

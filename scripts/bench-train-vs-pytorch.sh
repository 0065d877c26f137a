#!/usr/bin/env bash
# hourhand's CPU training step and PyTorch's (CPU, eager) on the same network and batch, side by
# side: `hourhand bench --train --backend cpu` and `../shared/anchors/torch_lrhn.py --train` in
# alternating rounds (hourhand, PyTorch, hourhand, ...) so drift on a shared machine hits both
# alike; prints the median samples/s of each and their ratio, for the 64×64 and 128×128 networks.
#
#   scripts/bench-train-vs-pytorch.sh [--rounds 5] [--seconds 4] [--batch 32] [--sizes 64,128]
#                                     [--python PYTHON_WITH_TORCH]
#
# Both sides use every core (PyTorch's default intra-op threads, rayon's default pool). A step is
# forward in training mode, the MSE loss, backward and the Adam update; hourhand also applies
# dropout 0.3 (DeepPrior++'s rate, `hourhand train`'s default until 2026-12-02) and weight decay,
# which PyTorch's anchor leaves out.
# Without --python, PyTorch and numpy are installed from PyPI into
# target/bench-train-vs-pytorch/venv the first time (several GB: PyPI's Linux wheel brings CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 seconds=4 batch=32 sizes=64,128 python=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

anchor=../shared/anchors/torch_lrhn.py
[ -f "$anchor" ] || { echo "$anchor not found: the PyTorch anchor lives in the shared folder" >&2; exit 1; }
work=target/bench-train-vs-pytorch
mkdir -p "$work"
if [ -z "$python" ]; then
  python="$work/venv/bin/python"
  if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
    echo "setting up PyTorch in $work/venv (PyPI)"
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet --upgrade pip
    "$work/venv/bin/pip" install --quiet torch numpy
  fi
fi

cargo build --release --locked --quiet
bin=target/release/hourhand
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
: >"$work/hourhand.jsonl"
: >"$work/pytorch.jsonl"
for size in ${sizes//,/ }; do
  # The paper-sized widths at this input size, freshly initialized (seed 1).
  config="$work/net$size.json"
  echo "{\"input_size\":$size,\"stem_channels\":32,\"res1_channels\":64,\"features\":128,\"hourglass_order\":3,\"head_channels\":32,\"patch_grid\":2,\"local_features\":256,\"global_features\":1024,\"joints\":35}" >"$config"
  "$bin" init --out "$work/net$size.safetensors" --config "$config" --seed 1 --force >/dev/null
done
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds"
  for size in ${sizes//,/ }; do
    "$bin" bench --train --backend cpu --weights "$work/net$size.safetensors" --batch "$batch" \
      --seconds "$seconds" --json | sed "s/^{/{\"size\":$size,/" >>"$work/hourhand.jsonl"
    "$python" "$anchor" --device cpu --train --batches "$batch" --size "$size" \
      --seconds "$seconds" | grep '^{' >>"$work/pytorch.jsonl"
  done
done
"$python" - "$work/hourhand.jsonl" "$work/pytorch.jsonl" <<'PY'
import json, statistics, sys
ours = [json.loads(l) for l in open(sys.argv[1])]
theirs = [json.loads(l) for l in open(sys.argv[2])]
rounds = len(ours) // max(1, len({(r["size"], r["batch"]) for r in ours}))
print(f"{'network':<10} {'batch':>5} {'hourhand samples/s':>19} {'PyTorch samples/s':>18} {'ratio':>7}   (medians of {rounds} rounds)")
for size in sorted({r["size"] for r in ours}):
    for batch in sorted({r["batch"] for r in ours if r["size"] == size}):
        a = statistics.median(r["fps"] for r in ours if r["size"] == size and r["batch"] == batch)
        b = statistics.median(r["samples_per_s"] for r in theirs if r["size"] == size and r["batch"] == batch)
        name = f"{size}×{size}"
        print(f"{name:<10} {batch:>5} {a:>19.1f} {b:>18.1f} {a / b:>6.2f}×")
print(f"PyTorch: {theirs[0]['framework']}; rows in {sys.argv[1]} and {sys.argv[2]}")
PY

#!/usr/bin/env bash
# A training stage on a GPU lent by the minute: fine-tune weights on synthetic frames through
# hourhand's own WGSL training path (`train --backend vulkan`) until a deadline, then put the
# run's weights, log and learning curve in one flat folder a caller can collect (the device
# tool brings back at most 8 files of 16 MiB each, so the 46 MB checkpoint stays behind: the
# next stage starts from best.safetensors with --finetune).
#
#   scripts/gpu-train.sh --from WEIGHTS --out DIR [--bin BIN] [--minutes 8]
#                        [--backend vulkan] [--adapter NAME] [-- TRAIN OPTIONS...]
#
# TRAIN OPTIONS go to `hourhand train` as they are; without them the stage is the bundled
# model's next one at the GPU's pace: 40,000 fresh third-generation frames of seed 21 (NYU's
# label conventions, poses and views; rendered once on the machine's cores in the first epoch, then
# kept: --cache-gib 26), smooth L1, batch 32, 3e-5 × 0.93 an epoch, the recipe's augmentation. Each epoch ends with the run folder written
# atomically, so stopping at the deadline loses only the epoch under way; the deadline is a
# hard one (`timeout`), for a lease that ends regardless. Everything is printed as it goes.
#
# On the lent machine (no network): carry a stripped release binary, the weights and the
# Vulkan loaders (see the device README), then run this with --bin and --out "$OUT/stage".
set -uo pipefail
cd "$(dirname "$0")/.."

bin=target/release/hourhand from= out= minutes=8 device=(--backend vulkan)
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --backend) device=(--backend "$2"); shift 2 ;;
    --adapter) device+=(--adapter "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
[ -n "$from" ] && [ -n "$out" ] || { echo "give --from WEIGHTS and --out DIR (see the top of $0)" >&2; exit 2; }
[ -x "$bin" ] || { echo "$bin: no hourhand binary (build it, or pass --bin)" >&2; exit 2; }
[ -f "$from" ] || { echo "$from: no such weights file" >&2; exit 2; }
[ -e "$out" ] && { echo "$out exists; pass another --out (nothing of an earlier stage is replaced)" >&2; exit 2; }
case "$minutes" in '' | *[!0-9.]*) echo "--minutes takes a number, not '$minutes'" >&2; exit 2 ;; esac
if [ $# -eq 0 ]; then
  set -- --data synth3:21:40000 --val synth3:2:300 --loss smooth-l1 --epochs 60 --batch 32 \
    --lr 3e-5 --lr-decay 0.93 --rotation 30 --shift 10 --scale 0.1 --seed 21 --half --cache-gib 26
fi
mkdir -p "$out" || exit 1
run=$(mktemp -d)/run

"$bin" info "${device[@]}" 2>&1 | tee "$out/adapter.txt"
echo "training for at most $minutes minutes from $from"
start=$(date +%s)
timeout "$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')" \
  "$bin" train --finetune "$from" --out "$run" "${device[@]}" "$@" 2>&1 | tee "$out/train.log"
status=${PIPESTATUS[0]}
echo "train ended with status $status after $(($(date +%s) - start)) s (124: the deadline)"

for f in best.safetensors last.safetensors log.csv train.json; do
  [ -f "$run/$f" ] && cp "$run/$f" "$out/$f"
done
if [ -f "$run/log.csv" ]; then
  "$bin" curve "$run" 2>&1 | tee "$out/curve.txt"
else
  echo "no epoch finished before the deadline: nothing to collect but the logs"
fi
ls -l "$out"

#!/usr/bin/env bash
# Everything we want to know about hourhand on one GPU, in one go and without network: the
# adapter, the GPU tests (where cargo is at hand), the network checked against the CPU backend
# and timed at batch 1, 32, 256 and 1024 with per-layer times for each kernel set, training
# samples/s with per-kernel times, and PyTorch's
# anchor on the same GPU where PyTorch is installed. Every result is a JSON line in one file,
# named at the end; each line has a "step" field, and bench rows name their kernel set in
# "kernels". Meant to finish inside 8 minutes on a discrete GPU; on lavapipe (software Vulkan)
# it runs completely, slowly: pass smaller --batches there.
#
#   scripts/gpu-report.sh [--bin target/release/hourhand] [--out FILE.jsonl]
#                         [--backend vulkan] [--adapter NAME] [--batches 1,32,64,256,1024]
#                         [--seconds 2] [--anchor ../shared/anchors/torch_lrhn.py]
#                         [--kernels register-blocked,blocked-gemv,tiled,subgroups,tiled-f16,subgroups-f16]
#                         [--no-tests] [--no-torch] [--no-compile] [--step-limit SECONDS]
#
# Without --bin it uses target/release/hourhand, building it when cargo is there. The GPU tests
# run only where cargo and the sources are (`cargo test --release` on the GPU test files, with
# WGPU_ADAPTER_NAME set to --adapter); elsewhere `bench --check` still compares the whole
# network's output with the CPU backend's at every batch size. Each step runs under a time
# limit (its own, or --step-limit where that is shorter: for a GPU lent by the minute); one that
# fails or runs out is recorded as such and the report goes on.
set -uo pipefail
cd "$(dirname "$0")/.."

bin= out= backend=vulkan adapter= batches=1,32,64,256,1024 seconds=2 kernel_sets=register-blocked,blocked-gemv,tiled,subgroups,tiled-f16,subgroups-f16
anchor=../shared/anchors/torch_lrhn.py tests=1 torch=1 compile=1 step_limit=
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --adapter) adapter=$2; shift 2 ;;
    --kernels) kernel_sets=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --anchor) anchor=$2; shift 2 ;;
    --no-tests) tests=0; shift ;;
    --no-torch) torch=0; shift ;;
    --no-compile) compile=0; shift ;;
    --step-limit) step_limit=$2; shift 2 ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
command -v python3 >/dev/null || { echo "gpu-report needs python3 (to write JSON)" >&2; exit 2; }

if [ -z "$bin" ]; then
  bin=target/release/hourhand
  if command -v cargo >/dev/null && [ -f Cargo.toml ]; then
    echo "building $bin"
    cargo build --release --locked --quiet || exit 1
  fi
fi
[ -x "$bin" ] || { echo "$bin: no hourhand binary (build it, or pass --bin)" >&2; exit 2; }
out=${out:-gpu-report-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
[ -e "$out" ] && { echo "$out exists; pass another --out" >&2; exit 2; }
: >"$out"
device=(--backend "$backend")
[ -n "$adapter" ] && device+=(--adapter "$adapter")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
started=$(date +%s)

# Appends the JSON lines on stdin to the report, each with "step": $1 (a line that is not JSON
# is kept as {"text": ...}).
record() {
  python3 -c '
import json, sys
step, out = sys.argv[1], sys.argv[2]
with open(out, "a") as f:
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row = row if isinstance(row, dict) else {"value": row}
        except ValueError:
            row = {"text": line}
        f.write(json.dumps({"step": step, **row}) + "\n")
' "$1" "$out"
}

# Runs "$@" for at most $2 seconds as step $1: its stdout's JSON lines into the report, then a
# line saying how it ended (exit status, seconds, and stderr's tail when it failed).
step() {
  local name=$1 limit=$2; shift 2
  [ -n "$step_limit" ] && [ "$step_limit" -lt "$limit" ] && limit=$step_limit
  echo "== $name: $*"
  local t0; t0=$(date +%s.%N)
  timeout "$limit" "$@" >"$scratch/stdout" 2>"$scratch/stderr"
  local rc=$?
  record "$name" <"$scratch/stdout"
  python3 - "$name" "$rc" "$t0" "$limit" "$scratch/stderr" "$*" >>"$out" <<'PY'
import json, sys, time
name, rc, t0, limit, err, cmd = sys.argv[1:]
rc = int(rc)
row = {"step": name, "status": "ok" if rc == 0 else ("timed out" if rc == 124 else "failed"),
       "exit": rc, "seconds": round(time.time() - float(t0), 1), "limit_s": int(limit), "command": cmd}
if rc != 0:
    row["stderr_tail"] = open(err, errors="replace").read()[-2000:]
print(json.dumps(row))
PY
  [ $rc -eq 0 ] || echo "   $name: exit $rc (see $out)"
}

# The machine and the adapter.
python3 - "$bin" >>"$out" <<'PY'
import json, os, platform, shutil, subprocess, sys
def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as e:
        return f"({cmd[0]}: {e})"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
row = {"step": "machine", "host": platform.node(), "os": platform.platform(), "cpu": cpu,
       "cores": os.cpu_count(), "hourhand": run(sys.argv[1], "--version")}
if shutil.which("nvidia-smi"):
    row["nvidia_smi"] = run("nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader")
print(json.dumps(row))
PY
step info 60 "$bin" info "${device[@]}"

# The GPU tests, on this adapter.
if [ $tests = 1 ] && command -v cargo >/dev/null && [ -f Cargo.toml ]; then
  gpu_tests=()
  for f in tests/gpu_*.rs tests/network.rs tests/shaders.rs; do gpu_tests+=(--test "$(basename "$f" .rs)"); done
  WGPU_ADAPTER_NAME=$adapter step gpu_tests 900 cargo test --release --locked "${gpu_tests[@]}"
else
  echo '{"step": "gpu_tests", "status": "skipped", "why": "no cargo and sources here (or --no-tests); bench --check compares the network with the CPU backend instead"}' >>"$out"
fi

# Inference with each kernel set: every batch size checked against the CPU backend, then
# timed; per-layer times at the first.
for set in ${kernel_sets//,/ }; do
  step "bench_$set" 300 "$bin" bench "${device[@]}" --no-cpu --check --json --per-layer \
    --kernels "$set" --batch "$batches" --seconds "$seconds"
done
# The CPU backend beside it, for scale.
step bench_cpu 120 "$bin" bench --backend cpu --json --batch 1,32 --seconds "$seconds"

# Training: samples/s of a step at batch 32 and 128 on the 64×64 and 128×128 networks, and the
# GPU time of every kernel in the step.
for size in 64 128; do
  echo "{\"input_size\":$size,\"stem_channels\":32,\"res1_channels\":64,\"features\":128,\"hourglass_order\":3,\"head_channels\":32,\"patch_grid\":2,\"local_features\":256,\"global_features\":1024,\"joints\":35}" >"$scratch/net$size.json"
  "$bin" init --out "$scratch/net$size.safetensors" --config "$scratch/net$size.json" --seed 1 --force >/dev/null
  step "train_$size" 180 "$bin" bench --train "${device[@]}" --no-cpu --json \
    --weights "$scratch/net$size.safetensors" --batch 32,128 --per-layer --seconds "$seconds"
done

# PyTorch on the same GPU, where it is installed: eager fp32, compiled, and a training step.
if [ $torch = 1 ] && [ -f "$anchor" ] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  step torch_eager 180 python3 "$anchor" --batches "$batches" --seconds "$seconds"
  [ $compile = 1 ] && step torch_compile 300 python3 "$anchor" --batches "$batches" --seconds "$seconds" --compile
  for size in 64 128; do
    step "torch_train_$size" 120 python3 "$anchor" --train --batches 32,128 --size "$size" --seconds "$seconds"
  done
else
  echo "{\"step\": \"torch\", \"status\": \"skipped\", \"why\": \"needs PyTorch with CUDA and the anchor at $anchor (or --no-torch)\"}" >>"$out"
fi

echo "{\"step\": \"end\", \"seconds\": $(( $(date +%s) - started ))}" >>"$out"

# A short summary of what the file holds.
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def fmt(v): return f"{v:,.1f}" if isinstance(v, (int, float)) else str(v)
print()
for r in rows:
    if (r["step"].startswith("bench") or r["step"].startswith("train")) and "fps" in r:
        extra = f"  max |GPU − CPU| {r['max_abs_diff_vs_cpu']:.2e}" if "max_abs_diff_vs_cpu" in r else ""
        print(f"{r['step']:<22} {r['backend']:<7} {r.get('kernels', ''):<17} batch {r['batch']:>5}: {fmt(r['fps']):>10} /s  {r['ms_per_batch']:.3f} ms{extra}")
    elif "refused" in r:
        print(f"{r['step']:<22} {r['backend']:<7} {r.get('kernels', ''):<17} batch {r['batch']:>5}: refused ({r['refused'].split('; ')[-1]})")
    elif r["step"].startswith("torch") and "fps" in r:
        print(f"{r['step']:<22} {r.get('mode', ''):<7} {r.get('dtype', ''):<17} batch {r['batch']:>5}: {fmt(r['fps']):>10} /s  {r['ms_per_batch']:.3f} ms")
failed = [r for r in rows if r.get("status") in ("failed", "timed out")]
for r in failed:
    print(f"{r['step']}: {r['status']} (exit {r['exit']})")
print(f"\nwrote {sys.argv[1]} ({len(rows)} lines{', %d steps failed' % len(failed) if failed else ''})")
PY

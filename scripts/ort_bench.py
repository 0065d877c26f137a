"""ONNX Runtime's side of scripts/bench-vs-onnxruntime.sh.

  ort_bench.py time MODEL --threads N --batch 1,32 --seconds S   one JSON line per batch size
  ort_bench.py summary HOURHAND.jsonl ORT.jsonl                  the side-by-side table

Timing matches `hourhand bench`: one warm-up run, then runs for about S seconds (at least 3),
median milliseconds per batch; inputs uniform in [-1, 1).
"""
import json
import statistics
import sys
import time


def time_model(args):
    import numpy as np
    import onnxruntime as ort

    model, threads, batches, seconds = args.model, args.threads, args.batch, args.seconds
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    shape = session.get_inputs()[0].shape[1:]
    rng = np.random.default_rng(7)
    for batch in batches:
        x = rng.uniform(-1, 1, (batch, *shape)).astype(np.float32)
        session.run(None, {name: x})
        times, start = [], time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < seconds:
            t = time.perf_counter()
            session.run(None, {name: x})
            times.append(time.perf_counter() - t)
        median = statistics.median(times)
        print(json.dumps({"backend": "onnxruntime", "adapter": f"ONNX Runtime {ort.__version__} CPU, {threads} threads",
                          "batch": batch, "fps": batch / median, "ms_per_batch": median * 1e3, "runs": len(times)}))


def summary(ours_path, theirs_path):
    def load(path):
        rows = {}
        for line in open(path):
            line = line.strip()
            if line.startswith("{") and '"fps"' in line:
                row = json.loads(line)
                rows.setdefault(row["batch"], []).append(row)
        return rows

    ours, theirs = load(ours_path), load(theirs_path)
    name_ours = next(iter(ours.values()))[0]["adapter"]
    name_theirs = next(iter(theirs.values()))[0]["adapter"]
    print(f"hourhand:     {name_ours}")
    print(f"ONNX Runtime: {name_theirs}")
    print(f"{'batch':>5} {'rounds':>6} {'hourhand FPS':>13} {'ORT FPS':>9} {'ratio':>6}   "
          f"{'hourhand ms':>11} {'ORT ms':>8}   (medians over rounds; each round is a median of runs)")
    for batch in sorted(set(ours) & set(theirs)):
        a = statistics.median(r["fps"] for r in ours[batch])
        b = statistics.median(r["fps"] for r in theirs[batch])
        ams = statistics.median(r["ms_per_batch"] for r in ours[batch])
        bms = statistics.median(r["ms_per_batch"] for r in theirs[batch])
        rounds = min(len(ours[batch]), len(theirs[batch]))
        print(f"{batch:>5} {rounds:>6} {a:>13.1f} {b:>9.1f} {a / b:>5.2f}×   {ams:>11.2f} {bms:>8.2f}")


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("time")
    t.add_argument("model")
    t.add_argument("--threads", type=int, required=True)
    t.add_argument("--batch", type=lambda s: [int(v) for v in s.split(",")], default=[1, 32])
    t.add_argument("--seconds", type=float, default=2.0)
    s = sub.add_parser("summary")
    s.add_argument("ours")
    s.add_argument("theirs")
    args = parser.parse_args()
    if args.command == "time":
        time_model(args)
    else:
        summary(args.ours, args.theirs)


if __name__ == "__main__":
    sys.exit(main())

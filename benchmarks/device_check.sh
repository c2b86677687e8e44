#!/usr/bin/env bash
# The prepared CUDA check (about 7 minutes on one GPU): the device-parametrised tests on cuda,
# the inner loop and the meta-gradient step at batch 90 and 1,000, train.py (3 iterations, then
# --resume to 5) and evaluate.py (every protocol row, 2 seeds, no closed loop: PyBullet runs on
# the CPU) with --device cuda, and 3 minutes of the paper preset (meta-iterations per second,
# peak memory). Writes one JSON: $1/device_check.json
# (default runs/device_check-<time>/). Needs a Python with this project installed
# (pip install -e ".[dev]") and a CUDA build of torch; PYTHON picks the interpreter, and
# ROBO_L2L_REFERENCE the folder of the authors' checkpoint (default ../shared/reference; without
# it the inner-loop timings use random weights, as bench_inner_loop.py says in its output).
#
#     bash benchmarks/device_check.sh "$OUT"
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
out=${1:-runs/device_check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
status=0
checkpoint=${ROBO_L2L_REFERENCE:-../shared/reference}/rapid_learning_robot_checkpoint.pickle
step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep its log and exit status
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s)"
    local start=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "{\"rc\": $rc, \"seconds\": $((SECONDS - start))}" >"$out/$name.status.json"
    tail -n 3 "$out/$name.log"
    [ "$rc" -eq 0 ] || status=1
}
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: torch ' + torch.__version__)" || exit 2
"$PYTHON" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" >"$out/gpu.txt"
step tests 120 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_devices.py -k cuda
step bench_inner_loop_b90 90 "$PYTHON" benchmarks/bench_inner_loop.py --device cuda \
    --batch-size 90 --repeats 3 --checkpoint "$checkpoint" --out "$out/b90"
step bench_inner_loop_b1000 120 "$PYTHON" benchmarks/bench_inner_loop.py --device cuda \
    --batch-size 1000 --repeats 2 --checkpoint "$checkpoint" --out "$out/b1000"
step train_cli 90 "$PYTHON" scripts/train.py --preset quick --iterations 3 --device cuda \
    --threads 0 --out "$out/train_run" --quiet
step train_resume_cli 90 "$PYTHON" scripts/train.py --preset quick --iterations 5 --device cuda \
    --threads 0 --out "$out/train_run" --resume --quiet
step evaluate_cli 150 "$PYTHON" scripts/evaluate.py --run results/readout_hw_quick \
    --seeds 100-101 --tracking-targets 0 --device cuda --out "$out/evaluate" --quiet
step bench_train_paper 230 "$PYTHON" benchmarks/bench_train.py --device cuda --preset paper \
    --seconds 180 --threads 0 --out "$out/train"
"$PYTHON" - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
record = {"gpu": (out / "gpu.txt").read_text().strip(), "steps": {}}
for status in sorted(out.glob("*.status.json")):
    record["steps"][status.name.split(".")[0]] = json.loads(status.read_text())
for name, path in (("inner_loop_b90", "b90/bench_inner_loop.json"),
                   ("inner_loop_b1000", "b1000/bench_inner_loop.json"),
                   ("train_paper", "train/bench_train.json")):
    f = out / path
    record[name] = json.loads(f.read_text())["result"] if f.exists() else None
metrics = out / "train_run" / "metrics.jsonl"
if metrics.exists():
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    record["train_cli"] = {"iterations": max(r["iteration"] for r in rows),
                           "validation": [r for r in rows if r.get("kind") == "val"]}
table = out / "evaluate" / "eval.json"
if table.exists():
    rows = json.loads(table.read_text())
    record["evaluate_cli"] = {"rows": len(rows), "n_tasks": rows[0]["n_tasks"],
                              "loss_after_mean": [r["loss_after_mean"] for r in rows]}
(out / "device_check.json").write_text(json.dumps(record, indent=1) + "\n")
print(json.dumps(record))
PY
exit $status

"""compare.py — `make bench-peer`: refclip's reference-size teacher step against the same step in
PyTorch (teacher_torch.py) on the same 2 cores, interleaved: every round runs each system once per
batch, in alternating order, so a machine that slows down mid-run slows both. Prints a Markdown table
with each configuration's samples/s per round, the median, the ratio to PyTorch, and the peak resident
set (the largest over rounds; under mpirun the largest rank's) beside PyTorch's.

refclip runs as 1 rank × 2 OpenBLAS threads and as 2 ranks × 1 thread (mpirun); PyTorch with 2 threads.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(command, environment):
    """Runs one measurement and returns its JSON record (the last line of output that parses)."""
    env = dict(os.environ, **environment)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in reversed(done.stdout.splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    sys.exit(f"compare.py: {' '.join(command)} gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refclip-bench", required=True, help="the refclip-bench binary")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", default="8,64")
    parser.add_argument("--baseline-bench", help="an earlier refclip-bench, measured in the same rounds (before/after a change)")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    mpirun = ["mpirun", "-np", "2", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS"]
    configurations = {
        "PyTorch, 2 threads": ([sys.executable, str(HERE / "teacher_torch.py"), "--threads", "2", "--batch"], {"OMP_NUM_THREADS": "2"}),
        "refclip, 1 rank × 2 threads": ([args.refclip_bench, "teacher-step", "--batch"], {"OPENBLAS_NUM_THREADS": "2"}),
        "refclip, 2 ranks × 1 thread": (mpirun + [args.refclip_bench, "teacher-step", "--batch"], {"OPENBLAS_NUM_THREADS": "1"}),
    }
    if args.baseline_bench:
        configurations["baseline refclip, 1 rank × 2 threads"] = ([args.baseline_bench, "teacher-step", "--batch"], {"OPENBLAS_NUM_THREADS": "2"})
        configurations["baseline refclip, 2 ranks × 1 thread"] = (mpirun + [args.baseline_bench, "teacher-step", "--batch"], {"OPENBLAS_NUM_THREADS": "1"})
    rates = {(name, b): [] for name in configurations for b in batches}
    resident = {(name, b): [] for name in configurations for b in batches}
    notes = {}
    for round_index in range(args.rounds):
        order = list(configurations) if round_index % 2 == 0 else list(reversed(configurations))
        for b in batches:
            for name in order:
                command, environment = configurations[name]
                record = run(command + [str(b)], environment)
                rates[(name, b)].append(record["samples_per_s"])
                resident[(name, b)].append(record.get("peak_rss_bytes", 0))
                notes[name] = record.get("torch", "") + " " + record["blas"] if "torch" in record else record["blas"]
                print(f"round {round_index + 1}, batch {b}: {name}: {record['samples_per_s']:.2f} samples/s", file=sys.stderr, flush=True)

    print("\n### Teacher training step, reference size: refclip against PyTorch on the same cores (interleaved)\n")
    for name, note in notes.items():
        print(f"- {name}: {note.strip()}")
    print("\n| global batch | system | samples/s per round | median | ratio to PyTorch | peak RSS (largest rank) | RSS ratio |"
          "\n|---|---|---|---|---|---|---|")
    for b in batches:
        torch_median = statistics.median(rates[("PyTorch, 2 threads", b)])
        torch_rss = max(resident[("PyTorch, 2 threads", b)])
        for name in configurations:
            values = rates[(name, b)]
            median = statistics.median(values)
            rss = max(resident[(name, b)])
            ratio = "1" if name.startswith("PyTorch") else f"{median / torch_median:.2f} ×"
            rss_ratio = "1" if name.startswith("PyTorch") else (f"{rss / torch_rss:.2f} ×" if torch_rss and rss else "–")
            rss_text = f"{rss / 1e9:.2f} GB" if rss else "not reported"
            print(f"| {b} | {name} | {', '.join(f'{v:.2f}' for v in values)} | {median:.2f} | {ratio} | {rss_text} | {rss_ratio} |")

if __name__ == "__main__":
    main()

"""scale_model.py — the α–β model of refclip's gradient all-reduce, fitted to `refclip-bench scale`
runs (bench-scale.sh writes them), and what it predicts for 8–256 hosts.

    python3 scale_model.py [--bucket-mib 8] RUN.txt…        # the "scale-json:" lines of each run

Model. A ring all-reduce of n bytes over W hosts in k buckets takes
    T(n, W) = k · 2(W − 1) · α + 2(W − 1)/W · n · β,
α the cost of one message (latency and software), β the seconds per byte. Measured per link and host
count from allReduceGradient's times: α from the 4 KiB all-reduce (α = T / 2(W − 1)), β from a fit
T = a + b·n over 1–64 MiB (β = b · W / 2(W − 1)).
A step with overlap costs compute + max(T(last bucket), T(gradient) − H): backward hides
communication for H, measured from the first bucket to the step's wait (`window`, as a share of
compute), and the last bucket cannot start before backward ends. Compute per sample is the 2-host run's
(one core per rank; the 4-host runs share the machine's 2 cores); per-rank batches 1, 4, 16 scale it
linearly, which flatters batch 1 (small batches run at fewer FLOP/s).
Predicted links: β = 8 / rate at 10, 25, 100 Gbit/s; α the one measured on the fastest link here plus
50 µs (half of a 0.1 ms round trip, which this kernel cannot add: it has no netem). The TCP stack of
this machine moves at most what its unshaped-rate β says per host; a host that slow runs every link
above that rate like that rate.
"""

import json
import math
import sys
from collections import defaultdict


def records(paths):
    for path in paths:
        for line in open(path):
            if line.startswith("scale-json: "):
                yield json.loads(line[len("scale-json: "):])


def fit(points):
    """Least squares of seconds = a + b · bytes."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    b = sum((x - mx) * (y - my) for x, y in points) / max(sum((x - mx) ** 2 for x, _ in points), 1e-30)
    return max(my - b * mx, 0.0), b


def main():
    args = sys.argv[1:]
    bucket_mib = 8.0
    if args[:1] == ["--bucket-mib"]:
        bucket_mib, args = float(args[1]), args[2:]
    data = list(records(args))
    if not data:
        sys.exit("scale_model.py: no scale-json lines in the given files")
    rings = defaultdict(list)
    for r in data:
        if r["kind"] == "allreduce" and r["method"].startswith("allReduceGradient, f32"):
            rings[(r["link"], r["hosts"])].append((r["mib"] * 1048576, r["seconds"]))
    print("### Fitted α–β (allReduceGradient, f32: the ring)\n\n| link | hosts | α (per message) | β⁻¹ (bytes/s) |\n|---|---:|---:|---:|")
    fitted = {}
    for (link, hosts), points in sorted(rings.items()):
        small = min(points)
        _, b = fit([p for p in points if p[0] >= 1048576])
        fitted[(link, hosts)] = (small[1] / (2 * (hosts - 1)), b * hosts / (2 * (hosts - 1)))
        print(f"| {link} | {hosts} | {fitted[(link, hosts)][0] * 1e6:.0f} µs | {1 / fitted[(link, hosts)][1] / 1e6:.0f} MB/s |")

    every = [r for r in data if r["kind"] == "step"]
    # The main configurations are the bucket size the overlap-off runs used; others are extra sizes.
    main_bucket = max(set(r.get("bucket_mib", 8) for r in every if not r["overlap"]) or {8},
                      key=lambda b: sum(1 for r in every if r.get("bucket_mib", 8) == b))
    steps = [r for r in every if r.get("bucket_mib", 8) == main_bucket]
    print(f"\n### Measured steps (global batch 8, one rank × one BLAS thread per host, {main_bucket:g} MiB buckets)\n")
    print("| model | link | hosts | compute | overlap off, f32 | overlap on, f32 | overlap on, bf16 | bytes sent per step, f32 → bf16 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    by = {(r["model"], r["link"], r["hosts"], r["overlap"], r["wire"]): r for r in steps}
    for (model, link, hosts) in sorted({(r["model"], r["link"], r["hosts"]) for r in steps}):
        get = lambda o, w: by.get((model, link, hosts, o, w))
        off, on, bf = get(False, "f32"), get(True, "f32"), get(True, "bf16")
        if not (off and on and bf):
            continue
        c = off["compute"]
        cell = lambda r: f"{r['step']:.2f} s ({r['step'] / c:.2f}×)"
        print(f"| {model} | {link} | {hosts} | {c:.2f} s | {cell(off)} | {cell(on)} | {cell(bf)} | "
              f"{on['sent_bytes'] / 1048576:.1f} → {bf['sent_bytes'] / 1048576:.1f} MiB |")

    sizes = [r for r in every if r["overlap"] and r["wire"] == "f32"]
    if len({r.get("bucket_mib", 8) for r in sizes}) > 1:
        print("\n### Bucket size (overlap on, f32)\n\n| model | link | hosts | bucket | step | × compute | waited |\n|---|---|---:|---:|---:|---:|---:|")
        for r in sorted(sizes, key=lambda r: (r["model"], r["link"], r["hosts"], r.get("bucket_mib", 8))):
            print(f"| {r['model']} | {r['link']} | {r['hosts']} | {r.get('bucket_mib', 8):g} MiB | {r['step']:.2f} s | "
                  f"{r['step'] / r['compute']:.2f} | {r['wait']:.3f} s |")

    # The fewest hosts (each on a core of its own: more hosts than cores time-share them, which shows as
    # latency) on the fastest link.
    fewest = min(h for _, h in fitted) if fitted else 2
    own = {link: ab for (link, h), ab in fitted.items() if h == fewest}
    fastest = min(own, key=lambda link: own[link][1]) if own else None
    alpha = (own[fastest][0] if fastest else 50e-6) + 50e-6
    software = own[fastest][1] if fastest else 0.0
    print(f"\n### Predicted: teacher at the reference size, overlap on, f32, {bucket_mib:g} MiB buckets (α = {alpha * 1e6:.0f} µs)\n")
    base = {}
    for r in steps:
        if r["overlap"] and r["wire"] == "f32" and r["hosts"] == 2:
            base[r["model"]] = r
    teacher = base.get("teacher")
    if teacher is None:
        print("(needs a 2-host teacher run)")
        return
    per_sample = teacher["compute"] / teacher["per_rank"]
    hidden_share = teacher["window"] / teacher["compute"]
    gradient = teacher["parameters"] * 4
    bucket = int(bucket_mib * 1048576)
    k = math.ceil(gradient / bucket)
    last = gradient - (k - 1) * bucket
    print(f"Each cell: the predicted step time and efficiency = compute / step (below 90 % communication shows); in brackets "
          f"the efficiency of hosts whose TCP stack moves {1 / software / 1e6:.0f} MB/s at most, as this one's does.\n")
    print("| link | per-rank batch | " + " | ".join(f"{w} hosts" for w in (8, 16, 32, 64, 128, 256)) + " |")
    print("|---|---:|" + "---:|" * 6)
    for gbit in (10, 25, 100):
        for batch in (1, 4, 16):
            compute = per_sample * batch
            cells = []
            for w in (8, 16, 32, 64, 128, 256):
                steps = []
                for beta in (8 / (gbit * 1e9), max(8 / (gbit * 1e9), software)):
                    ring = lambda n, buckets: buckets * 2 * (w - 1) * alpha + 2 * (w - 1) / w * n * beta
                    steps.append(compute + max(ring(last, 1), ring(gradient, k) - hidden_share * compute))
                cells.append(f"{steps[0]:.2f} s, {100 * compute / steps[0]:.0f} % ({100 * compute / steps[1]:.0f} %)")
            print(f"| {gbit} GbE | {batch} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

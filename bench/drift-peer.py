"""The drift benchmark's peer: the same drift check as bench/drift.ts, in numpy/scipy, on the same columns.

    python drift-peer.py <dir> <columns,comma-separated> <reps>

Reads <dir>/<column>-reference.f64 and <column>-current.f64 (raw little-endian float64, written by bench/drift.ts),
runs one untimed warm-up check, then <reps> timed checks of every column; prints one JSON line: per-rep milliseconds,
milliseconds per step of the last rep, the statistics, and the library versions. Per column, as ours:
- PSI and Jensen-Shannon distance on 20 equal-width reference bins (current values clamped into the reference range;
  zero proportions replaced by 0.0001 for PSI);
- two-sample KS (method='asymp') on uniform samples of 10,000 values of each side;
- Wasserstein distance on the full columns.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy import stats
from scipy.spatial.distance import jensenshannon

BINS = 20
SAMPLE = 10_000
PSI_EPSILON = 1e-4


def check(reference, current, rng, laps):
    t = time.perf_counter()

    def lap(name):
        nonlocal t
        now = time.perf_counter()
        laps[name] = laps.get(name, 0.0) + (now - t) * 1000
        t = now

    ref_counts, edges = np.histogram(reference, bins=BINS)
    cur_counts, _ = np.histogram(np.clip(current, edges[0], edges[-1]), bins=edges)
    lap("histograms")
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    js = float(jensenshannon(p, q, base=2))
    p = np.where(p == 0, PSI_EPSILON, p)
    q = np.where(q == 0, PSI_EPSILON, q)
    psi = float(np.sum((q - p) * np.log(q / p)))
    lap("psi+js")
    ref_sample = rng.choice(reference, min(SAMPLE, len(reference)), replace=False)
    cur_sample = rng.choice(current, min(SAMPLE, len(current)), replace=False)
    lap("samples")
    ks = stats.ks_2samp(ref_sample, cur_sample, method="asymp")
    lap("ks")
    wasserstein = float(stats.wasserstein_distance(reference, current))
    lap("wasserstein")
    return {
        "psi": psi,
        "jensenShannon": js,
        "ks": {"statistic": float(ks.statistic), "pValue": float(ks.pvalue)},
        "wasserstein": wasserstein,
    }


def main():
    directory = Path(sys.argv[1])
    columns = sys.argv[2].split(",")
    reps = int(sys.argv[3])
    data = {
        c: (
            np.fromfile(directory / f"{c}-reference.f64", dtype="<f8"),
            np.fromfile(directory / f"{c}-current.f64", dtype="<f8"),
        )
        for c in columns
    }
    rng = np.random.default_rng(0)
    for c in columns:
        check(*data[c], rng, {})
    ms = []
    results = {}
    for _ in range(reps):
        laps = {}
        started = time.perf_counter()
        for c in columns:
            results[c] = check(*data[c], rng, laps)
        ms.append((time.perf_counter() - started) * 1000)
    versions = {"numpy": np.__version__, "scipy": scipy.__version__}
    print(json.dumps({"ms": ms, "laps": laps, "results": results, "versions": versions}))


if __name__ == "__main__":
    main()

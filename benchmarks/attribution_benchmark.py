"""Benchmark: the exact Markov attribution (opscadence.analytics.weekly.attribution.markov) against
ChannelAttribution 2.2.5's simulated ``markov_model`` on the same 100k distinct paths, same run.

Goal (issue #10): the exact solution at most 2x ChannelAttribution's time. Each side runs in its
own process (ours in this venv, ChannelAttribution in the anchors venv, benchmarks/anchors/.venv,
built by ``make anchors``), reading the same generated path table; its time covers parsing the
paths and the model (not reading the CSV or importing), its peak RSS is the process's own.
ChannelAttribution simulates the chain (``nsim_start`` 1e5, ``conv_par`` 0.05, one core), so the
difference of conversions per channel is its simulation error (and its ``max_step`` cut: a
simulated path longer than the longest path of the data does not convert there).

Usage: .venv/bin/python benchmarks/attribution_benchmark.py [--paths 100000] [--channels 12]
       [--repeat 3] [--anchors benchmarks/anchors/.venv/bin/python] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ANCHORS = ROOT / "benchmarks" / "anchors" / ".venv" / "bin" / "python"
LONGER = {"max_step": 100, "nsim_start": 1_000_000}

OURS = """
import json, resource, sys, time
import pandas as pd
from opscadence.analytics.weekly.attribution import markov, split_paths
data = pd.read_csv(sys.argv[1], sep=";")
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    paths = split_paths(data["path"], data["total_conversions"], data["total_conversion_value"], data["total_null"])
    result = markov(paths)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": times, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "channels": [str(c) for c in result.labels], "conversions": result.conversions.tolist(),
                  "value": result.value.tolist(), "removal_effect": result.removal_effect.tolist()}))
"""

CHANNEL_ATTRIBUTION = """
import io, json, resource, sys, time, contextlib
import pandas as pd
with contextlib.redirect_stdout(io.StringIO()):  # its banner
    from ChannelAttribution import markov_model
data = pd.read_csv(sys.argv[1], sep=";")
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = markov_model(data, "path", "total_conversions", var_value="total_conversion_value",
                              var_null="total_null", out_more=True, verbose=False, flg_pro=False,
                              **json.loads(sys.argv[3]))
    times.append(time.perf_counter() - start)
frame, removal = result["result"], result["removal_effects"]
print(json.dumps({"seconds": times, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "channels": frame["channel_name"].tolist(), "conversions": frame["total_conversions"].tolist(),
                  "value": frame["total_conversion_value"].tolist(),
                  "removal_effect": removal["removal_effects_conversion"].tolist()}))
"""


def generate_paths(n_paths: int, n_channels: int, seed: int) -> pd.DataFrame:
    """``n_paths`` distinct paths (1-15 touches, popular channels more often) with conversions,
    value and nulls: a path's conversion rate grows with the channels it went through."""
    rng = np.random.default_rng(seed)
    names = np.array([f"ch{i:02d}" for i in range(n_channels)], dtype=object)
    popularity = 1.0 / np.arange(1, n_channels + 1) ** 0.8
    popularity /= popularity.sum()
    lift = rng.uniform(0.2, 1.5, n_channels)
    seen: set[str] = set()
    rows: list[tuple[str, float]] = []
    while len(rows) < n_paths:
        lengths = np.minimum(rng.geometric(0.25, n_paths), 15)
        touches = rng.choice(n_channels, size=int(lengths.sum()), p=popularity)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        for i in range(n_paths):
            codes = touches[starts[i]:starts[i + 1]]
            text = " > ".join(names[codes])
            if text not in seen:
                seen.add(text)
                rows.append((text, float(lift[codes].mean())))
                if len(rows) == n_paths:
                    break
    paths = pd.DataFrame(rows, columns=["path", "lift"])
    visits = rng.poisson(8, n_paths) + 1
    conversions = rng.binomial(visits, np.clip(0.08 * paths["lift"].to_numpy(), 0, 1))
    return pd.DataFrame({
        "path": paths["path"],
        "total_conversions": conversions,
        "total_conversion_value": np.round(conversions * rng.lognormal(4.0, 0.5, n_paths), 2),
        "total_null": visits - conversions,
    })


def run_child(python: str, code: str, csv_path: Path, repeat: int, env: dict | None = None,
              options: dict | None = None) -> dict:
    done = subprocess.run([python, "-c", code, str(csv_path), str(repeat), json.dumps(options or {})],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (the fastest is compared)")
    parser.add_argument("--anchors", default=str(DEFAULT_ANCHORS), help="the anchors venv's python")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not Path(args.anchors).exists():
        raise SystemExit(f"{args.anchors} does not exist: build the anchors venv with `make anchors`")

    import os

    table = generate_paths(args.paths, args.channels, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "paths.csv"
        table.to_csv(csv_path, sep=";", index=False)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        ours = run_child(sys.executable, OURS, csv_path, args.repeat, env)
        theirs = run_child(args.anchors, CHANNEL_ATTRIBUTION, csv_path, args.repeat)
        # the same without its max_step cut and with 10x the simulations: what is left is noise
        longer = run_child(args.anchors, CHANNEL_ATTRIBUTION, csv_path, 1, options=LONGER)

    ours_frame = pd.DataFrame({k: ours[k] for k in ("channels", "conversions", "value", "removal_effect")})
    theirs_frame = pd.DataFrame({k: theirs[k] for k in ("channels", "conversions", "value", "removal_effect")})
    both = ours_frame.merge(theirs_frame, on="channels", suffixes=("_exact", "_ca"), validate="one_to_one")
    total = float(table["total_conversions"].sum())
    conv_diff = (both["conversions_exact"] - both["conversions_ca"]).abs()
    value_diff = (both["value_exact"] - both["value_ca"]).abs()
    removal_diff = (both["removal_effect_exact"] - both["removal_effect_ca"]).abs()
    longer_diff = (both["conversions_exact"]
                   - both["channels"].map(dict(zip(longer["channels"], longer["conversions"])))).abs()
    longer_removal = (both["removal_effect_exact"]
                      - both["channels"].map(dict(zip(longer["channels"], longer["removal_effect"])))).abs()
    best_ours, best_theirs = min(ours["seconds"]), min(theirs["seconds"])
    summary = {
        "paths": args.paths, "channels": args.channels, "touches": int(table["path"].str.count(">").sum() + len(table)),
        "conversions": total, "exact_seconds": ours["seconds"], "channelattribution_seconds": theirs["seconds"],
        "ratio_exact_over_ca": best_ours / best_theirs,
        "exact_peak_rss_mb": ours["peak_rss_mb"], "channelattribution_peak_rss_mb": theirs["peak_rss_mb"],
        "max_abs_conversion_diff": float(conv_diff.max()),
        "max_conversion_diff_share_of_total": float(conv_diff.max() / total),
        "max_relative_conversion_diff": float((conv_diff / both["conversions_exact"]).max()),
        "max_abs_value_diff": float(value_diff.max()),
        "max_abs_removal_effect_diff": float(removal_diff.max()),
        "longer_options": LONGER, "longer_seconds": longer["seconds"][0],
        "longer_max_abs_conversion_diff": float(longer_diff.max()),
        "longer_max_abs_removal_effect_diff": float(longer_removal.max()),
    }
    print(f"{args.paths:,} distinct paths, {args.channels} channels, {summary['touches']:,} touches, "
          f"{total:,.0f} conversions")
    print(f"exact Markov (ours):         best {best_ours:.3f} s of {', '.join(f'{s:.3f}' for s in ours['seconds'])}; "
          f"peak RSS {ours['peak_rss_mb']:.0f} MB")
    print(f"ChannelAttribution 2.2.5:    best {best_theirs:.3f} s of "
          f"{', '.join(f'{s:.3f}' for s in theirs['seconds'])}; peak RSS {theirs['peak_rss_mb']:.0f} MB")
    print(f"ratio ours / ChannelAttribution: {summary['ratio_exact_over_ca']:.2f}x (goal <= 2x)")
    print(f"max |conversions ours - CA| per channel: {summary['max_abs_conversion_diff']:.1f} "
          f"({summary['max_conversion_diff_share_of_total'] * 100:.2f}% of all conversions, "
          f"{summary['max_relative_conversion_diff'] * 100:.2f}% of that channel's); "
          f"max |removal effect diff| {summary['max_abs_removal_effect_diff']:.4f}; "
          f"max |value diff| {summary['max_abs_value_diff']:,.1f}")
    print(f"ChannelAttribution with max_step 100, nsim_start 1e6 ({longer['seconds'][0]:.2f} s): "
          f"max |conversions diff| {summary['longer_max_abs_conversion_diff']:.1f}, "
          f"max |removal effect diff| {summary['longer_max_abs_removal_effect_diff']:.4f}")
    print(both.round(4).to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

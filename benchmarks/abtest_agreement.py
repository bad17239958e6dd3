"""Agreement of opscadence's A/B statistics with gbstats 0.8.0 (GrowthBook's engine).

50 random experiments (seeded; 2 or 3 variants, 50 to 200,000 users per variant, conversion
rates 0.5%-50%, lifts -30%..+30%, two with a control of zero conversions), each variant
against the control on three metrics: conversion (a proportion), revenue per user (a sample
mean from simulated per-user values) and revenue per user with CUPED (a correlated pre-period
value). Ours: :mod:`opscadence.analytics.weekly.abtest` in this venv. Theirs: gbstats'
``TwoSidedTTest``, ``EffectBayesianABTest`` (default prior) and ``check_srm`` in the anchors
venv (``make anchors``), fed the same sums through a subprocess. Prints the largest absolute
difference per field.

    .venv/bin/python benchmarks/abtest_agreement.py [--anchors PYTHON]  (default: the anchors venv's)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from opscadence.analytics.weekly.abtest import Covariate, Moments, compare, srm_p_value

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = 50
SEED = 20261204

# Run in the anchors venv: reads the experiments as JSON on stdin, writes gbstats' results.
GBSTATS_RUNNER = r"""
import json, sys
from gbstats.bayesian.tests import EffectBayesianABTest
from gbstats.frequentist.tests import TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, RegressionAdjustedStatistic, SampleMeanStatistic
from gbstats.utils import check_srm

def stat(m):
    if m["proportion"]:
        return ProportionStatistic(n=m["n"], sum=m["sum"])
    return SampleMeanStatistic(n=m["n"], sum=m["sum"], sum_squares=m["sum_squares"])

def pair(metric, i, cuped):
    def one(j):
        if not cuped:
            return stat(metric["post"][j])
        return RegressionAdjustedStatistic(n=metric["post"][j]["n"], post_statistic=stat(metric["post"][j]),
                                           pre_statistic=stat(metric["pre"][j]),
                                           post_pre_sum_of_products=metric["products"][j], theta=0)
    return one(0), one(i)

out = []
for exp in json.load(sys.stdin):
    rows = {"srm_p": float(check_srm(exp["users"], [1.0] * len(exp["users"]))), "metrics": {}}
    for name, metric in exp["metrics"].items():
        cuped = "pre" in metric
        results = []
        for i in range(1, len(metric["post"])):
            f = TwoSidedTTest(*pair(metric, i, cuped)).compute_result()
            b = EffectBayesianABTest(*pair(metric, i, cuped)).compute_result()
            results.append({"lift": f.expected, "ci_low": f.ci[0], "ci_high": f.ci[1], "p_value": f.p_value,
                            "chance_to_win": b.chance_to_win, "risk_control": b.risk[0], "risk_treatment": b.risk[1],
                            "credible_low": b.ci[0], "credible_high": b.ci[1],
                            "error": f.error_message or b.error_message})
        rows["metrics"][name] = results
    out.append(rows)
json.dump(out, sys.stdout)
"""


def moments_json(m: Moments) -> dict:
    return {"n": m.n, "sum": m.sum, "sum_squares": m.sum_squares, "proportion": m.proportion}


def random_experiments(rng: np.random.Generator) -> list[dict]:
    experiments = []
    for k in range(EXPERIMENTS):
        variants = int(rng.choice([2, 3]))
        n = int(np.exp(rng.uniform(np.log(50), np.log(200_000))))
        users = [max(2, int(rng.normal(n, 0.05 * n))) for _ in range(variants)]
        base = float(np.exp(rng.uniform(np.log(0.005), np.log(0.5))))
        rates = [base] + [base * (1 + rng.uniform(-0.3, 0.3)) for _ in range(variants - 1)]
        conversions = [int(rng.binomial(u, min(r, 0.99))) for u, r in zip(users, rates)]
        if k % 17 == 16:
            conversions[0] = 0  # a control without conversions: both engines' default output
        revenue, cuped_post, cuped_pre, products = [], [], [], []
        for u, c in zip(users, conversions):
            values = np.zeros(u)
            values[:c] = rng.lognormal(4.0, 0.8, c)
            revenue.append(Moments.values(u, values.sum(), (values ** 2).sum()))
            m = min(u, 50_000)  # CUPED's per-user values: a correlated pre-period
            pre = rng.gamma(2.0, 50.0, m)
            post = 0.7 * pre + rng.normal(0, 40.0, m) + 30.0 * (1 + rng.uniform(-0.1, 0.1))
            cuped_post.append(Moments.values(m, post.sum(), (post ** 2).sum()))
            cuped_pre.append(Moments.values(m, pre.sum(), (pre ** 2).sum()))
            products.append(float((post * pre).sum()))
        experiments.append({
            "users": users,
            "conversion": [Moments.conversions(u, c) for u, c in zip(users, conversions)],
            "revenue": revenue,
            "cuped": (cuped_post, cuped_pre, products),
        })
    return experiments


def ours(exp: dict) -> dict:
    out = {"srm_p": srm_p_value(exp["users"]), "metrics": {}}
    post, pre, products = exp["cuped"]
    metrics = {"conversion": (exp["conversion"], None), "revenue": (exp["revenue"], None),
               "revenue_cuped": (post, [Covariate(p, s) for p, s in zip(pre, products)])}
    for name, (stats, covariates) in metrics.items():
        rows = []
        for i in range(1, len(stats)):
            c = compare(stats[0], stats[i], 0.05, covariates[0] if covariates else None,
                        covariates[i] if covariates else None)
            f, b = c.frequentist, c.bayesian
            rows.append({"lift": f.lift, "ci_low": f.ci_low, "ci_high": f.ci_high, "p_value": f.p_value,
                         "chance_to_win": b.chance_to_win, "risk_control": b.risk_control,
                         "risk_treatment": b.risk_treatment, "credible_low": b.ci_low, "credible_high": b.ci_high,
                         "error": f.error or b.error})
        out["metrics"][name] = rows
    return out


def to_json(exp: dict) -> dict:
    post, pre, products = exp["cuped"]
    return {"users": exp["users"], "metrics": {
        "conversion": {"post": [moments_json(m) for m in exp["conversion"]]},
        "revenue": {"post": [moments_json(m) for m in exp["revenue"]]},
        "revenue_cuped": {"post": [moments_json(m) for m in post], "pre": [moments_json(m) for m in pre],
                          "products": products},
    }}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anchors", default=str(ROOT / "benchmarks" / "anchors" / ".venv" / "bin" / "python"),
                        help="the anchors venv's python (make anchors)")
    args = parser.parse_args(argv)
    experiments = random_experiments(np.random.default_rng(SEED))
    run = subprocess.run([args.anchors, "-c", GBSTATS_RUNNER], input=json.dumps([to_json(e) for e in experiments]),
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        print(f"gbstats run failed in {args.anchors}:\n{run.stderr}", file=sys.stderr)
        return 1
    theirs = json.loads(run.stdout)
    fields = ["lift", "ci_low", "ci_high", "p_value", "chance_to_win", "risk_control", "risk_treatment",
              "credible_low", "credible_high"]
    worst: dict[tuple[str, str], float] = {}
    comparisons = errors = mismatched_errors = 0
    srm = 0.0
    for mine, gb in zip(map(ours, experiments), theirs):
        srm = max(srm, abs(mine["srm_p"] - gb["srm_p"]))
        for metric, rows in mine["metrics"].items():
            for a, b in zip(rows, gb["metrics"][metric]):
                comparisons += 1
                errors += a["error"] is not None
                mismatched_errors += a["error"] != b["error"]
                for field in fields:
                    key = (metric, field)
                    worst[key] = max(worst.get(key, 0.0), abs(a[field] - b[field]))
    print(f"{EXPERIMENTS} experiments, {comparisons} variant-vs-control comparisons "
          f"({errors} gbstats cannot compute: default output; {mismatched_errors} with a different error)")
    print(f"{'field':<16}" + "".join(f"{m:>16}" for m in ("conversion", "revenue", "revenue_cuped")))
    for field in fields:
        print(f"{field:<16}" + "".join(f"{worst[(m, field)]:>16.3g}" for m in ("conversion", "revenue", "revenue_cuped")))
    print(f"{'srm_p':<16}{srm:>16.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

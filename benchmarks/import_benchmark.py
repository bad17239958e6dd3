"""`opscadence import orders` at scale: a GBK shop export with Chinese headers, read, checked, written.

Run:  .venv/bin/python benchmarks/import_benchmark.py [--orders 1000000] [--seed 7] [--url URL] [--json out.json]

The export (seeded numpy generator): 订单编号, 买家昵称 (hashed), 收货人 and 手机号 (dropped), 下单时间 in
``2026-11-03 14:05:00``, 实付金额 as ``￥1,299.00`` (every cell through the currency path), 订单状态
in Chinese, 渠道, 商品名称 (ignored), over 30 days, one file in GBK. Timed, one run each:

* plan: :func:`opscadence.imports.plan_import` (decode, parse the CSV, map headers, parse values,
  hash the nicknames, check duplicates);
* write: :func:`opscadence.imports.write_import` into an empty warehouse (a temporary SQLite file,
  or ``--url`` whose raw_orders is emptied first);
* rewrite: the same plan again (every row is found unchanged: nothing is deleted or written).

Peak RSS: ``ru_maxrss`` of this process (it also holds the generated file's text while writing it).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opscadence import warehouse  # noqa: E402
from opscadence.imports import load_aliases, plan_import, write_import  # noqa: E402

STATUSES = np.array(["交易成功", "已发货", "已退款", "交易关闭", "待付款"])
CHANNELS = np.array(["淘宝", "抖音", "微信", "小红书"])


def export(path: Path, orders: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-10-01T00:00:00")
    seconds = rng.integers(0, 30 * 86400, orders)
    times = np.datetime_as_string(start + seconds.astype("timedelta64[s]"), unit="s")
    amounts = rng.lognormal(5, 1, orders).round(2)
    buyers = rng.integers(0, max(orders // 4, 1), orders)
    status = STATUSES[rng.integers(0, len(STATUSES), orders)]
    channel = CHANNELS[rng.integers(0, len(CHANNELS), orders)]
    lines = ["订单编号,买家昵称,收货人,手机号,下单时间,实付金额,订单状态,渠道,商品名称"]
    for i in range(orders):
        lines.append(f"T{i:09d},买家{buyers[i]},某人,138{i % 100_000_000:08d},{times[i].replace('T', ' ')},"
                     f"\"￥{amounts[i]:,.2f}\",{status[i]},{channel[i]},商品")
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", default=None, help="a warehouse to write into (its raw_orders is emptied)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        file = Path(tmp) / "orders.csv"
        t = time.perf_counter()
        export(file, args.orders, args.seed)
        generated = time.perf_counter() - t
        url = args.url or f"sqlite:///{Path(tmp) / 'warehouse.sqlite'}"
        engine = warehouse.create_engine(url)
        warehouse.init_schema(engine)
        with engine.begin() as conn:
            conn.execute(warehouse.raw_orders.delete())
        t = time.perf_counter()
        plan = plan_import("orders", [file], aliases=load_aliases(), timezone="Asia/Shanghai",
                           pseudonym_key=lambda: b"k" * 32)
        planned = time.perf_counter() - t
        assert plan.ok, plan.problems[:3]
        t = time.perf_counter()
        write_import(engine, plan)
        written = time.perf_counter() - t
        t = time.perf_counter()
        again = write_import(engine, plan)
        rewritten = time.perf_counter() - t
        engine.dispose()
        result = {
            "orders": args.orders, "file_mb": round(file.stat().st_size / 2**20, 1),
            "warehouse": engine.dialect.name, "generate_s": round(generated, 2), "plan_s": round(planned, 2),
            "write_s": round(written, 2), "rewrite_s": round(rewritten, 2), "unchanged_on_rewrite": again.unchanged,
            "rows": len(plan.frame), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    print(json.dumps(result, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

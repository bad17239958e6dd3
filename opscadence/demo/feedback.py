"""Feedback in Chinese and English from a fixed pool of templates (no personal data): positive,
neutral, negative, urgent complaints every few days, and complaints about the incident on its day."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opscadence.demo.draws import seconds_of_day, timestamps
from opscadence.demo.shop import Population, columns

SOURCES = np.array(["app_review", "customer_service", "survey", "social"], dtype=object)
SOURCE_P = np.array([0.3, 0.35, 0.2, 0.15])
INCIDENT_SOURCES = ["app_review", "customer_service", "social"]


@dataclass(frozen=True)
class Pools:
    """Texts by kind: 0 positive (rated 4–5), 1 neutral (3), 2 negative (1–2), 3 urgent (1),
    4 about the day's incident (1–2)."""

    positive: list[str]
    neutral: list[str]
    negative: list[str]
    urgent: list[str]
    incident: list[str]

    def kind(self, k: int) -> tuple[list[str], int, int]:
        return [(self.positive, 4, 5), (self.neutral, 3, 3), (self.negative, 1, 2),
                (self.urgent, 1, 1), (self.incident, 1, 2)][k]


SHOP = Pools(
    positive=[
        "物流很快，包装完好，好评！", "质量不错，已经回购第三次了", "客服回复很及时，问题解决了", "活动力度大，价格实惠",
        "新品颜值很高，朋友都问链接", "App 界面清爽，下单很方便", "Fast delivery and great packaging.",
        "Love the new collection, quality is great.", "Customer service solved my issue in minutes.",
        "Good value for money, will buy again.",
    ],
    neutral=[
        "尺码偏小，建议拍大一号", "App 偶尔有点卡，希望优化", "优惠券规则有点复杂", "发货比预期慢了一天",
        "Delivery took a bit longer than expected but OK.", "Search results could be more relevant.",
        "Would like more colour options.",
    ],
    negative=[
        "退款太慢了，一周还没到账", "商品和图片有色差", "客服一直不回复", "快递包装破损，商品有划痕", "优惠券用不了",
        "Item arrived damaged.", "The app keeps crashing when I open the cart.", "Refund is taking forever.",
        "Coupon code did not work at checkout.",
    ],
    urgent=[
        "支付失败", "付款失败了，钱扣了订单没有", "账号被封", "账号被封了，无法登录，请尽快处理", "被重复扣款两次！",
        "payment failed twice", "my account was banned", "I was charged but the order is not showing.",
    ],
    incident=[
        "支付失败", "付款失败了，钱扣了订单没有", "支付宝付款一直超时", "iPhone 上用支付宝支付一直失败",
        "付款页面转圈然后提示支付失败", "payment failed twice", "Alipay keeps timing out on my iPhone.",
        "Payment failed again, please fix checkout!",
    ],
)


def feedback_frame(rng: np.random.Generator, pop: Population, days: list[int], pools: Pools) -> pd.DataFrame:
    """``raw_feedback`` rows of ``days``: ~N/280 a day (6–45; weekends more), urgent ones on
    every third day and at random, and extra complaints on the incident day; 70% of app reviews
    and customer-service tickets name a user who had signed up by then."""
    base = float(np.clip(pop.N / 280.0, 6.0, 45.0))
    rows: list[dict] = []
    for d in days:
        kinds = rng.choice(3, size=int(round(base * pop.wf[d] * rng.uniform(0.8, 1.15))), p=[0.45, 0.2, 0.35]).tolist()
        if rng.random() < 0.4 or d % 3 == 1:
            kinds += [3] * int(rng.integers(1, 3))
        if d == pop.planted.incident:
            kinds += [4] * int(round(base * 0.35 + 3))
        seconds = np.sort(seconds_of_day(rng, len(kinds)))
        n_users = max(int(pop.first_user_of_day[d + 1]), 1)
        stamp = f"{pop.dates[d]:%Y%m%d}"
        for i, (kind, sec) in enumerate(zip(kinds, seconds.tolist())):
            pool, lo, hi = pools.kind(kind)
            source = str(rng.choice(SOURCES, p=SOURCE_P))
            if kind == 4:
                source = str(rng.choice(INCIDENT_SOURCES))
            linked = source in ("app_review", "customer_service") and rng.random() < 0.7
            rows.append({"ds": pop.dates[d], "feedback_id": f"f{stamp}{i + 1:04d}", "source": source,
                         "created_at": sec, "day": d, "rating": int(rng.integers(lo, hi + 1)),
                         "text": pool[int(rng.integers(len(pool)))],
                         "user_id": str(pop.user_ids[rng.integers(n_users)]) if linked else None})
    fb = pd.DataFrame(rows, columns=[*columns("feedback"), "day"])
    day = fb.pop("day").to_numpy(dtype=np.int64)
    fb["created_at"] = timestamps(pop.start, day, fb["created_at"].to_numpy(dtype=float))
    return fb

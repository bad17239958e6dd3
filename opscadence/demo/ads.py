"""Ad spend per day × channel × campaign: impressions follow the day's traffic; CTR 1.5–4% on
every paid channel but ``wechat`` (0.6–0.8%); the promo campaign runs the promo day and the two
days before it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from opscadence.demo.catalogue import CAMPAIGNS, PROMO_CAMPAIGN
from opscadence.demo.shop import Population, columns

LOW_CTR_CHANNEL = "wechat"
# name: (base CTR, CPC in CNY, impressions per registered-user-of-the-shop per day)
AD_PARAMS: dict[str, tuple[float, float, float]] = {
    "douyin": (0.024, 1.10, 4.0),
    "baidu": (0.033, 2.40, 1.6),
    "wechat": (0.007, 1.80, 3.0),
    "xiaohongshu": (0.019, 1.30, 2.0),
    "google": (0.028, 3.20, 0.5),
}
CAMPAIGN_SHARES = (0.6, 0.4, 0.8)  # the channel's two campaigns, then the promo campaign


def ad_spend_frame(rng: np.random.Generator, pop: Population, days: list[int], *, sum_order: str) -> pd.DataFrame:
    """``raw_ad_spend`` rows of ``days``. ``sum_order``: the floating-point order each generator
    has always multiplied clicks in ("demo": impressions × (CTR × jitter); "large":
    (impressions × CTR) × jitter), kept so that each one's rows stay identical."""
    rows: list[dict] = []
    promo = pop.planted.promo
    for d in days:
        promo_window = promo is not None and promo - 2 <= d <= promo
        for ch, (ctr0, cpc0, per_user) in AD_PARAMS.items():
            camps = list(CAMPAIGNS[ch]) + ([PROMO_CAMPAIGN] if promo_window and ch != "google" else [])
            for camp, share in zip(camps, CAMPAIGN_SHARES):
                impressions = int(round(pop.N * per_user * share * pop.traffic[d] * rng.uniform(0.9, 1.1)))
                if sum_order == "demo":
                    clicks = int(round(impressions * (ctr0 * rng.uniform(0.9, 1.1))))
                else:
                    clicks = int(round(impressions * ctr0 * rng.uniform(0.9, 1.1)))
                cost = round(clicks * cpc0 * rng.uniform(0.9, 1.1), 2)
                rows.append({"ds": pop.dates[d], "channel": ch, "campaign": camp,
                             "impressions": impressions, "clicks": clicks, "cost": cost})
    return pd.DataFrame(rows, columns=columns("ad_spend"))

"""What the demo shop sells through and to whom: platforms, channels and campaigns, regions,
payment methods and their errors (indexes into these arrays are what the generators draw)."""

from __future__ import annotations

import numpy as np

PLATFORMS = np.array(["ios", "android", "web", "miniprogram"], dtype=object)
PLATFORM_P = np.array([0.34, 0.36, 0.16, 0.14])
IOS, ANDROID = 0, 1

# Acquisition channels; index 5 (direct) carries no UTM parameters.
CHANNELS = np.array(["douyin", "baidu", "wechat", "xiaohongshu", "google", "direct"], dtype=object)
DIRECT = 5
USER_CHANNEL_P = np.array([0.26, 0.14, 0.18, 0.16, 0.04, 0.22])
SESSION_PAID_P = np.array([0.32, 0.20, 0.20, 0.20, 0.08])  # over the 5 paid channels
P_DIRECT_SESSION = 0.45
UTM_MEDIUM = np.array(["paid_social", "cpc", "paid_social", "paid_social", "cpc", None], dtype=object)
CAMPAIGNS: dict[str, tuple[str, str]] = {
    "douyin": ("信息流_日常拉新", "达人种草_夏季"),
    "baidu": ("品牌词_brand", "品类词_通用"),
    "wechat": ("朋友圈广告_拉新", "公众号_互推"),
    "xiaohongshu": ("笔记种草_新品", "KOC合作_双11预热"),
    "google": ("shopping_feed_intl", "brand_search_intl"),
}
PROMO_CAMPAIGN = "周年庆大促"

REGIONS = np.array(
    ["广东", "浙江", "江苏", "上海", "北京", "四川", "山东", "湖北", "福建", "河南",
     "湖南", "安徽", "陕西", "重庆", "天津", "辽宁"], dtype=object)
REGION_P = np.array([0.16, 0.11, 0.10, 0.09, 0.08, 0.07, 0.07, 0.05, 0.05, 0.05,
                     0.04, 0.04, 0.03, 0.03, 0.02, 0.01])
REGION_P = REGION_P / REGION_P.sum()

METHODS = np.array(["alipay", "wechat_pay", "card", "unionpay"], dtype=object)
ALIPAY, WECHAT_PAY = 0, 1
METHOD_P_BY_PLATFORM = np.array([
    [0.52, 0.34, 0.08, 0.06],  # ios
    [0.44, 0.42, 0.04, 0.10],  # android
    [0.45, 0.15, 0.25, 0.15],  # web
    [0.00, 1.00, 0.00, 0.00],  # miniprogram (inside WeChat)
])
WALLET_ERRORS = (np.array(["INSUFFICIENT_FUNDS", "RISK_CONTROL_REJECTED", "GATEWAY_TIMEOUT"], dtype=object),
                 np.array([0.5, 0.25, 0.25]))
CARD_ERRORS = (np.array(["INSUFFICIENT_FUNDS", "CARD_DECLINED", "GATEWAY_TIMEOUT"], dtype=object),
               np.array([0.5, 0.3, 0.2]))

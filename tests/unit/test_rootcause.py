"""explain / root_cause_lines: segment contributions to a KPI's change, worked by hand.

Every expected number is computed in the comments next to the data; the data are
``mart_daily_kpis``-shaped dicts for one day each.
"""

from __future__ import annotations

import pytest

from opscadence.alerting.rootcause import RootCause, explain, root_cause_lines

PSR = "payment_success_rate"


def rate(dimension: str, value: str, attempts: float, ok: float, metric: str = PSR) -> dict:
    return {"metric": metric, "dimension": dimension, "dimension_value": value,
            "value": ok / attempts if attempts else None, "numerator": ok, "denominator": attempts}


def amount(dimension: str, value: str, x: float | None, metric: str = "gmv", numerator: bool = True) -> dict:
    return {"metric": metric, "dimension": dimension, "dimension_value": value,
            "value": x, "numerator": x if numerator else None, "denominator": None}


def names(cause: RootCause) -> list[tuple[str, str]]:
    return [(s.dimension, s.dimension_value) for s in cause.segments]


# ---------------------------------------------------------------------------
# 1. Payment success rate: ios broke, and alipay carries the failures
# ---------------------------------------------------------------------------
#
#                      baseline (attempts/ok)   today (attempts/ok)
#   all                2000 / 1965 = 98.25%     2000 / 1684 = 84.20%   delta = -0.1405
#   platform ios       1000 /  980 = 98.0%      1000 /  700 = 70.0%
#   platform android   1000 /  985 = 98.5%      1000 /  984 = 98.4%
#   pay alipay          800 /  792 = 99.0%       900 /  600 = 66.7%    (failures 8 -> 300)
#   pay wechat_pay      900 /  885 = 98.3%       800 /  790 = 98.75%
#   pay card            300 /  288 = 96.0%       300 /  294 = 98.0%
#   region cn          2000 / 1965              2000 / 1684            (one value: skipped)
#
# Counterfactuals (segment i today, the rest of its dimension at baseline) − 0.9825:
#   ios        (700 + 985) / (1000 + 1000)           = 1685/2000 = 0.8425   -> -0.14
#              share 0.14 / 0.1405 = 0.996441
#   android    (980 + 984) / 2000                    = 1964/2000 = 0.982    -> -0.0005
#              share 0.0005 / 0.1405 = 0.003559 < 0.05: dropped
#   alipay     (1965 - 792 + 600) / (2000 - 800 + 900) = 1773/2100 = 0.8442857 -> -0.1382143
#              share 0.1382143 / 0.1405 = 0.983732
#   wechat_pay (1965 - 885 + 790) / (2000 - 900 + 800) = 1870/1900 = 0.9842105 -> +0.0017105 (wrong way)
#   card       (1965 - 288 + 294) / 2000              = 1971/2000 = 0.9855    -> +0.003    (wrong way)
# ios's counterfactual is the larger drop (-0.14 < -0.1382), so platform is the dimension shown;
# alipay (payment_method) overlaps ios (the same attempts), so it is not added next to it:
# "ios 100%" and "alipay 98%" side by side read as 198% of one change.
# Within platform: ios shown; android pushes the same way but under min_share (not listed);
# nothing moved the other way (offset 0); remainder = -0.1405 - (-0.14) - 0 = -0.0005 (android).

BASE_PAY = [
    rate("all", "all", 2000, 1965),
    rate("platform", "ios", 1000, 980),
    rate("platform", "android", 1000, 985),
    rate("payment_method", "alipay", 800, 792),
    rate("payment_method", "wechat_pay", 900, 885),
    rate("payment_method", "card", 300, 288),
    rate("region", "cn", 2000, 1965),
    amount("all", "all", 5000, metric="orders"),  # another metric: ignored
]
NOW_PAY = [
    rate("all", "all", 2000, 1684),
    rate("platform", "ios", 1000, 700),
    rate("platform", "android", 1000, 984),
    rate("payment_method", "alipay", 900, 600),
    rate("payment_method", "wechat_pay", 800, 790),
    rate("payment_method", "card", 300, 294),
    rate("region", "cn", 2000, 1684),
    amount("all", "all", 1, metric="orders"),
]


def test_payment_rate_shows_one_dimension_ios_not_ios_and_alipay():
    cause = explain(NOW_PAY, BASE_PAY, PSR)
    assert cause.metric == PSR
    assert cause.value == pytest.approx(0.842)
    assert cause.baseline == pytest.approx(0.9825)
    assert cause.delta == pytest.approx(-0.1405)
    assert cause.dimension == "platform"
    assert names(cause) == [("platform", "ios")]  # before: ios then alipay, 100% + 98% of one change

    (ios,) = cause.segments
    assert ios.contribution == pytest.approx(-0.14)
    assert ios.share == pytest.approx(0.14 / 0.1405)  # 0.996441
    assert (ios.baseline, ios.value) == (pytest.approx(0.98), pytest.approx(0.70))
    assert {s.dimension_value for s in cause.dimension_segments} == {"ios", "android"}
    assert cause.offset == 0  # nothing moved up
    assert cause.remainder() == pytest.approx(-0.0005)  # -0.1405 - (-0.14) - 0: android
    assert cause.not_listed() == 1  # android, share 0.003559 < min_share
    assert cause.funnel_step is None


def test_min_share_and_top():
    # With no share floor android's -0.0005 (share 0.003559) comes in after ios; the lines then
    # reconcile exactly: -0.14 + -0.0005 = -0.1405, remainder 0.
    cause = explain(NOW_PAY, BASE_PAY, PSR, min_share=0.0, top=10)
    assert names(cause) == [("platform", "ios"), ("platform", "android")]
    assert cause.segments[-1].contribution == pytest.approx(-0.0005)
    assert cause.segments[-1].share == pytest.approx(0.0005 / 0.1405)
    assert cause.remainder() == pytest.approx(0.0) and cause.not_listed() == 0
    # top=1 keeps only ios (android not listed either way); a floor of 0.99 keeps ios (0.9964);
    # a floor of 0.997 is above ios and above alipay's 0.9837: nothing is shown.
    assert names(explain(NOW_PAY, BASE_PAY, PSR, top=1)) == [("platform", "ios")]
    assert names(explain(NOW_PAY, BASE_PAY, PSR, min_share=0.99)) == [("platform", "ios")]
    assert names(explain(NOW_PAY, BASE_PAY, PSR, min_share=0.997)) == []
    # The funnel step is passed through.
    assert explain(NOW_PAY, BASE_PAY, PSR, funnel_step="payment").funnel_step == "payment"


# ---------------------------------------------------------------------------
# 2. Additive GMV by channel
# ---------------------------------------------------------------------------
#
#   channel   baseline   today    contribution   share (/ -4500)
#   douyin     20,000   15,000       -5,000       1.1111
#   baidu       8,000    9,000       +1,000      -0.2222  (wrong direction: excluded)
#   wechat      6,000    5,500         -500       0.1111
#   all        34,000   29,500       -4,500

BASE_GMV = [amount("all", "all", 34000), amount("channel", "douyin", 20000),
            amount("channel", "baidu", 8000), amount("channel", "wechat", 6000)]
NOW_GMV = [amount("all", "all", 29500), amount("channel", "douyin", 15000),
           amount("channel", "baidu", 9000), amount("channel", "wechat", 5500)]


def test_additive_gmv_by_channel():
    cause = explain(NOW_GMV, BASE_GMV, "gmv")
    assert cause.delta == pytest.approx(-4500)
    assert names(cause) == [("channel", "douyin"), ("channel", "wechat")]
    douyin, wechat = cause.segments
    assert douyin.contribution == pytest.approx(-5000)
    assert douyin.share == pytest.approx(10 / 9)  # 1.111…
    assert (douyin.baseline, douyin.value) == (20000, 15000)
    assert wechat.contribution == pytest.approx(-500)
    assert wechat.share == pytest.approx(1 / 9)  # 0.111…
    # baidu moved the other way: it offsets +1,000; -5,000 - 500 + 1,000 = -4,500, remainder 0.
    assert cause.offset == pytest.approx(1000)
    assert cause.remainder() == pytest.approx(0)


def test_additive_falls_back_to_value_and_picks_one_dimension():
    # Same GMV with numerator missing (value used), plus a platform split of the same total:
    #   ios 20,000 -> 15,800 (-4,200, share 0.9333), android 14,000 -> 13,700 (-300, share 0.0667).
    # Best segment per dimension: channel douyin 1.111 > platform ios 0.933, so channel is shown
    # (before: douyin, ios, wechat, android across both, 1.111 + 0.933 + … of one change).
    base = [dict(r, numerator=None) for r in BASE_GMV] + [amount("platform", "ios", 20000),
                                                          amount("platform", "android", 14000)]
    now = [dict(r, numerator=None) for r in NOW_GMV] + [amount("platform", "ios", 15800),
                                                        amount("platform", "android", 13700)]
    cause = explain(now, base, "gmv", top=10)
    assert cause.dimension == "channel"
    assert names(cause) == [("channel", "douyin"), ("channel", "wechat")]
    assert [round(s.share, 4) for s in cause.segments] == [1.1111, 0.1111]
    # Without the channel rows platform is the one: ios -4,200 then android -300 (sum -4,500).
    no_channel = explain([r for r in now if r["dimension"] != "channel"],
                         [r for r in base if r["dimension"] != "channel"], "gmv")
    assert names(no_channel) == [("platform", "ios"), ("platform", "android")]
    assert no_channel.offset == 0 and no_channel.remainder() == pytest.approx(0)


# ---------------------------------------------------------------------------
# 3. Mix effect: a segment's rate unchanged, its volume grew at a lower rate
# ---------------------------------------------------------------------------


def test_mix_effect_shows_up_with_negative_contribution():
    #            baseline              today
    #   ios      1000 / 900 = 90%      1000 / 900 = 90%
    #   android   100 /  60 = 60%       500 / 300 = 60%   (rate unchanged, volume ×5)
    #   all      1100 / 960 = 48/55    1500 / 1200 = 0.8  delta = 44/55 - 48/55 = -4/55 = -0.072727
    # android counterfactual: (900 + 300) / (1000 + 500) = 0.8 -> 0.8 - 48/55 = -4/55 (share 1.0)
    # ios counterfactual: unchanged -> 0, not in the delta's direction.
    base = [rate("all", "all", 1100, 960), rate("platform", "ios", 1000, 900), rate("platform", "android", 100, 60)]
    now = [rate("all", "all", 1500, 1200), rate("platform", "ios", 1000, 900), rate("platform", "android", 500, 300)]
    cause = explain(now, base, PSR)
    assert cause.delta == pytest.approx(-4 / 55)
    assert names(cause) == [("platform", "android")]
    android = cause.segments[0]
    assert android.value == pytest.approx(0.6) and android.baseline == pytest.approx(0.6)
    assert android.contribution == pytest.approx(-4 / 55)  # -0.072727
    assert android.share == pytest.approx(1.0)


def test_ratio_contributions_need_not_add_up():
    # As above but ios also fell to 800/1000:
    #   all today 1100/1500 = 11/15; delta = 11/15 - 48/55 = -23/165 = -0.139394
    #   ios     (800 + 60) / 1100 = 43/55 -> -5/55 = -1/11 = -0.090909, share 15/23 = 0.652174
    #   android (900 + 300) / 1500 = 0.8  -> -4/55       = -0.072727, share 12/23 = 0.521739
    #   sum of contributions -9/55 = -0.163636 != delta (the two changes share a denominator)
    base = [rate("all", "all", 1100, 960), rate("platform", "ios", 1000, 900), rate("platform", "android", 100, 60)]
    now = [rate("all", "all", 1500, 1100), rate("platform", "ios", 1000, 800), rate("platform", "android", 500, 300)]
    cause = explain(now, base, PSR)
    assert cause.delta == pytest.approx(-23 / 165)
    assert names(cause) == [("platform", "ios"), ("platform", "android")]
    assert [s.contribution for s in cause.segments] == [pytest.approx(-1 / 11), pytest.approx(-4 / 55)]
    assert [s.share for s in cause.segments] == [pytest.approx(15 / 23), pytest.approx(12 / 23)]
    assert sum(s.contribution for s in cause.segments) == pytest.approx(-9 / 55)
    assert sum(s.contribution for s in cause.segments) != pytest.approx(cause.delta)
    # The remainder states the interaction: -23/165 - (-9/55) = -23/165 + 27/165 = 4/165 = +0.024242.
    assert cause.remainder() == pytest.approx(4 / 165)
    assert root_cause_lines(cause, "en")[-1] == "remainder +2.4 pp, including the segments' interaction"  # 4/165
    assert root_cause_lines(cause, "zh-CN")[-1] == "其余 +2.4 个百分点（含分组间的相互影响）"


# ---------------------------------------------------------------------------
# 4. Segments on one side only; nothing to explain
# ---------------------------------------------------------------------------


def test_new_ratio_segment_only_today():
    #   ios 1000/980 and android 1000/985 both days; harmony 100/50 only today.
    #   all 2000/1965 = 0.9825 -> 2100/2015 = 0.9595238; delta = -0.0229762
    #   harmony counterfactual: (1965 + 50) / (2000 + 100) = 0.9595238 -> -0.0229762 (share 1.0),
    #   its baseline has no volume (None); ios and android contribute 0.
    seg = [rate("platform", "ios", 1000, 980), rate("platform", "android", 1000, 985)]
    base = [rate("all", "all", 2000, 1965), *seg]
    now = [rate("all", "all", 2100, 2015), *seg, rate("platform", "harmony", 100, 50)]
    cause = explain(now, base, PSR)
    assert cause.delta == pytest.approx(2015 / 2100 - 0.9825)
    assert names(cause) == [("platform", "harmony")]
    harmony = cause.segments[0]
    assert harmony.baseline is None and harmony.value == pytest.approx(0.5)
    assert harmony.contribution == pytest.approx(2015 / 2100 - 0.9825)  # -0.0229762
    assert harmony.share == pytest.approx(1.0)


def test_new_and_vanished_additive_segments_count_as_zero():
    #   wechat 1,000 -> 1,000; baidu 500 -> (gone, 0): -500; xiaohongshu (new, 0) -> 800: +800
    #   all 1,500 -> 1,800; delta +300; xiaohongshu share 800/300 = 2.6667; baidu opposes.
    base = [amount("all", "all", 1500), amount("channel", "wechat", 1000), amount("channel", "baidu", 500)]
    now = [amount("all", "all", 1800), amount("channel", "wechat", 1000), amount("channel", "xiaohongshu", 800)]
    cause = explain(now, base, "gmv")
    assert cause.delta == pytest.approx(300)
    assert names(cause) == [("channel", "xiaohongshu")]
    new = cause.segments[0]
    assert (new.baseline, new.value, new.contribution) == (0.0, 800, 800)
    assert new.share == pytest.approx(8 / 3)
    assert cause.offset == pytest.approx(-500)  # baidu; 800 - 500 = 300
    # A share over 100% is not printed as "267%": the line says so and the offset is stated.
    assert root_cause_lines(cause, "en") == [
        "channel=xiaohongshu: ¥0.00 → ¥800.00, +¥800.00, more than the whole +¥300.00 change",
        "other channel segments offset -¥500.00",
    ]
    assert root_cause_lines(cause, "zh-CN") == [
        "渠道=xiaohongshu：¥0.00 → ¥800.00，贡献 +¥800.00，超过总变化 +¥300.00",
        "其他渠道分组抵消了 -¥500.00",
    ]
    # The other way round the vanished baidu explains a drop: 1,800 -> 1,500, baidu 0 -> 500 reversed.
    back = explain(base, now, "gmv")
    assert names(back) == [("channel", "xiaohongshu")]  # -800, share 2.6667; baidu +500 opposes
    assert back.segments[0].value == 0.0


def test_missing_baseline_gives_no_segments():
    cause = explain(NOW_PAY, [], PSR)
    assert cause.baseline is None and cause.delta is None and cause.segments == []
    assert cause.value == pytest.approx(0.842)
    # Segments at baseline but no `all` row: still no total, no segments.
    no_total = [r for r in BASE_PAY if r["dimension"] != "all"]
    assert explain(NOW_PAY, no_total, PSR).segments == []
    # Missing today likewise.
    assert explain([], BASE_PAY, PSR).delta is None


def test_zero_delta_gives_no_segments():
    # ios +100 and android -100 cancel: 2,000 -> 2,000.
    base = [amount("all", "all", 2000), amount("platform", "ios", 1000), amount("platform", "android", 1000)]
    now = [amount("all", "all", 2000), amount("platform", "ios", 1100), amount("platform", "android", 900)]
    cause = explain(now, base, "gmv")
    assert cause.delta == 0
    assert cause.segments == []
    assert root_cause_lines(cause, "en") == []


# ---------------------------------------------------------------------------
# 5. Lines
# ---------------------------------------------------------------------------


def test_lines_en_and_zh():
    # ios: contribution -0.14 = -14.0 pp of delta -0.1405 = -14.05 pp (shown -14.1), share 0.996441 -> "100%".
    # Before: a second line "payment_method=alipay … explains 98%" from an overlapping dimension.
    # Rest: android not listed; remainder -0.1405 + 0.14 = -0.0005 = -0.05 pp, shown -0.1 (the float
    # difference is -0.00050000000000000…1, rounded away from zero).
    cause = explain(NOW_PAY, BASE_PAY, PSR, funnel_step="payment")
    assert root_cause_lines(cause, "en") == [
        "platform=ios: 98.0% → 70.0%, -14.0 pp of the -14.1 pp change (100%)",
        "1 more platform segment(s) not listed; remainder -0.1 pp, including the segments' interaction",
        "funnel: Checkout → Payment success conversion fell most",
    ]
    assert root_cause_lines(cause, "zh-CN") == [
        "平台=ios：98.0% → 70.0%，贡献 -14.0 个百分点，占总变化（-14.1 个百分点）的 100%",
        "另有 1 个平台分组未列出；其余 -0.1 个百分点（含分组间的相互影响）",
        "漏斗：结算→支付成功 转化下降最多",
    ]
    assert root_cause_lines(cause) == root_cause_lines(cause, "zh-CN")
    # top=2 of min_share 0 lists android too: -0.05 pp of -14.1 (0.36% -> "0%"), nothing remains.
    wide = explain(NOW_PAY, BASE_PAY, PSR, min_share=0.0, top=10)
    assert root_cause_lines(wide, "en", top=1)[1] == (
        "1 more platform segment(s) not listed; remainder -0.1 pp, including the segments' interaction")
    assert len(root_cause_lines(wide, "en", top=2)) == 2


def test_lines_format_by_unit():
    # GMV (currency): douyin share 10/9 was printed "111%"; now -5,000 is "more than the whole
    # -4,500 change" and baidu's +1,000 is stated as the offset; wechat 1/9 -> "11%".
    # Check: -5,000 - 500 + 1,000 = -4,500.
    gmv = explain(NOW_GMV, BASE_GMV, "gmv")
    assert root_cause_lines(gmv, "en") == [
        "channel=douyin: ¥20,000.00 → ¥15,000.00, -¥5,000.00, more than the whole -¥4,500.00 change",
        "channel=wechat: ¥6,000.00 → ¥5,500.00, -¥500.00 of the -¥4,500.00 change (11%)",
        "other channel segments offset +¥1,000.00",
    ]
    assert root_cause_lines(gmv, "zh-CN") == [
        "渠道=douyin：¥20,000.00 → ¥15,000.00，贡献 -¥5,000.00，超过总变化 -¥4,500.00",
        "渠道=wechat：¥6,000.00 → ¥5,500.00，贡献 -¥500.00，占总变化（-¥4,500.00）的 11%",
        "其他渠道分组抵消了 +¥1,000.00",
    ]
    # Orders (count): douyin 12,000 -> 9,500 is the whole -2,500 change.
    base = [amount("all", "all", 15000, "orders"), amount("channel", "douyin", 12000, "orders"),
            amount("channel", "wechat", 3000, "orders")]
    now = [amount("all", "all", 12500, "orders"), amount("channel", "douyin", 9500, "orders"),
           amount("channel", "wechat", 3000, "orders")]
    assert root_cause_lines(explain(now, base, "orders"), "en") == [
        "channel=douyin: 12,000 → 9,500, -2,500 of the -2,500 change (100%)"]


def test_lines_escape_data_and_step_fallbacks():
    # "<!channel>" 5,000 -> 1,000 is the whole -4,000 change; "organic" is unchanged.
    base = [amount("all", "all", 6000), amount("channel", "<!channel>", 5000), amount("channel", "organic", 1000)]
    now = [amount("all", "all", 2000), amount("channel", "<!channel>", 1000), amount("channel", "organic", 1000)]
    cause = explain(now, base, "gmv", funnel_step="<@U1>")
    assert root_cause_lines(cause, "en") == [
        "channel=&lt;!channel&gt;: ¥5,000.00 → ¥1,000.00, -¥4,000.00 of the -¥4,000.00 change (100%)",
        "funnel: &lt;@U1&gt; conversion fell most",
    ]
    assert root_cause_lines(cause, "zh-CN") == [
        "渠道=&lt;!channel&gt;：¥5,000.00 → ¥1,000.00，贡献 -¥4,000.00，占总变化（-¥4,000.00）的 100%",
        "漏斗：&lt;@U1&gt; 转化下降最多",
    ]
    # An unknown dimension name is data too; the first funnel step has no step before it.
    odd = [dict(r, dimension="*x*") if r["dimension"] == "channel" else r for r in base]
    odd_now = [dict(r, dimension="*x*") if r["dimension"] == "channel" else r for r in now]
    first = explain(odd_now, odd, "gmv", funnel_step="page_view")
    assert root_cause_lines(first, "en")[0].startswith("＊x＊=&lt;!channel&gt;: ")
    assert root_cause_lines(first, "en")[-1] == "funnel: Visit conversion fell most"
    assert root_cause_lines(first, "zh-CN")[-1] == "漏斗：访问 转化下降最多"


def test_lines_reject_unknown_locale():
    with pytest.raises(ValueError, match="unsupported locale"):
        root_cause_lines(RootCause(PSR, None, None, None, []), "fr")


def test_overlapping_rate_shares_over_100_percent_are_worded_and_reconciled():
    # The shape of the demo's payment incident, small:
    #                      baseline (attempts/ok)   today
    #   all                200 / 200 = 100%          300 / 250 = 83.33%   delta = -1/6 = -16.67 pp
    #   pay alipay         100 / 100                 100 /  50 = 50%
    #   pay wechat_pay     100 / 100                 200 / 200 = 100%
    #   platform ios       100 / 100                 150 / 100 = 66.7%
    #   platform android   100 / 100                 150 / 150 = 100%
    # alipay:  (200 - 100 + 50) / (200 - 100 + 100)  = 150/200 = 0.75 -> -0.25, share 1.5
    # ios:     (200 - 100 + 100) / (200 - 100 + 150) = 200/250 = 0.8  -> -0.20, share 1.2
    # wechat_pay and android: (250/250 or 300/300) = 1.0 -> 0
    # Before: "payment_method=alipay … explains 150%" and "platform=ios … explains 120%" (270% of one change).
    base = [rate("all", "all", 200, 200), rate("payment_method", "alipay", 100, 100),
            rate("payment_method", "wechat_pay", 100, 100), rate("platform", "ios", 100, 100),
            rate("platform", "android", 100, 100)]
    now = [rate("all", "all", 300, 250), rate("payment_method", "alipay", 100, 50),
           rate("payment_method", "wechat_pay", 200, 200), rate("platform", "ios", 150, 100),
           rate("platform", "android", 150, 150)]
    cause = explain(now, base, PSR)
    assert cause.delta == pytest.approx(-1 / 6)
    assert names(cause) == [("payment_method", "alipay")]  # 1.5 > 1.2: one dimension
    assert cause.segments[0].share == pytest.approx(1.5)
    # Nothing moved up (offset 0); remainder -1/6 - (-1/4) - 0 = +1/12 = +8.33 pp: the mix (wechat_pay's
    # volume doubled at 100%) that the one-segment what-if leaves out.
    assert cause.offset == 0
    assert cause.remainder() == pytest.approx(1 / 12)
    assert root_cause_lines(cause, "en") == [
        "payment method=alipay: 100.0% → 50.0%, -25.0 pp, more than the whole -16.7 pp change",
        "remainder +8.3 pp, including the segments' interaction",
    ]
    assert root_cause_lines(cause, "zh-CN") == [
        "支付方式=alipay：100.0% → 50.0%，贡献 -25.0 个百分点，超过总变化 -16.7 个百分点",
        "其余 +8.3 个百分点（含分组间的相互影响）",
    ]

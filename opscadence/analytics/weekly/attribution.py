"""Which channels and campaigns earned the week's paid orders, what each returned on its spend,
and where next week's budget should move.

Journeys: each paid order of the week is a conversion worth its amount. Its touches are the
buyer's sessions in the ``lookback_days`` before the order (a session's channel is its landing
``utm_source``, ``direct`` without one, as :mod:`opscadence.metrics.dimensions` defines it; its
campaign is ``utm_campaign``, ``none`` without one). An order without any session in the window
is one ``direct`` touch, so every order is attributed and totals are conserved.

Models (each gives conversions and revenue per channel; per journey the weights sum to 1):

* ``first``: the first touch; ``last``: the last touch, or with ``last_touch_ignores_direct``
  (the weekly default, as Google Analytics does) the last touch that is not ``direct`` when
  the journey has one;
* ``linear``: 1/len(journey) per touch;
* ``position``: 40% first, 40% last, 20% shared by the touches between (one touch: 100%,
  two: 50/50);
* ``time_decay``: a touch Δ days before the conversion weighs 2^(-Δ/half_life_days);
* ``markov``: a first-order chain over (start) → channels → (conversion) | (null), with
  consecutive repeats of a channel collapsed, solved exactly as an absorbing Markov chain.
  With N = (I - Q)⁻¹ its fundamental matrix and B = N·R its absorption probabilities,
  P(conversion) = B[start, conv], and by the strong Markov property
  P(conversion ∧ visit c) = P(reach c) · B[c, conv] with P(reach c) = N[start, c] / N[c, c].
  So the removal effect 1 - P(conversion without c)/P(conversion) of every channel comes from
  one inverse. Conversions are shared in proportion to the removal effects, revenue in
  proportion to the revenue removal effects (a conversion's value is the mean value of the
  conversions its journey ends with, as ChannelAttribution draws it).

The ad hoc command (:mod:`opscadence.adhoc.attribution`) reads ChannelAttribution's path
table and follows its definitions: plain last touch, ``direct`` a channel like any other,
null paths in the chain; its ``markov_model`` estimates the same removal effects by simulation
(benchmarks/attribution_benchmark.py compares the two).

ROI: attributed revenue against the week's ad spend of the channel (or campaign): CPA = cost /
conversions, ROAS = revenue / cost, ROI = (revenue - cost) / cost. The budget shift moves
spend, at most ``max_shift`` of any channel's spend, from channels whose ROAS is below the
spend-weighted average to those above it, best first, keeping the total. Its expected effect is
stated under two assumptions: ROAS stays constant at the margin (an upper bound), and
diminishing returns, revenue ∝ spend^``returns_exponent`` (whose marginal ROAS is
exponent × ROAS, so the ranking by ROAS is the ranking by marginal ROI either way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from opscadence.analytics.weekly.sections import NextAction, WeeklyContext, WeeklySection
from opscadence.metrics import dimensions
from opscadence.reporting.i18n import dimension_value_text, format_delta, format_value, strings

Model = Literal["first", "last", "linear", "position", "time_decay", "markov"]
MODELS: tuple[str, ...] = ("first", "last", "linear", "position", "time_decay", "markov")

DIRECT = dimensions.BY_NAME["channel"].missing  # a session without utm_source
NO_CAMPAIGN = dimensions.BY_NAME["campaign"].missing  # a session without utm_campaign

SECONDS_PER_DAY = 86_400.0


class AttributionConfig(BaseModel):
    """``weekly.attribution`` of the configuration."""

    model_config = ConfigDict(extra="forbid")

    # A session counts for an order when it starts at most this many days before it.
    lookback_days: int = Field(30, ge=1, le=365)
    # Last touch skips a final direct visit when the journey has an earlier non-direct touch.
    last_touch_ignores_direct: bool = True
    half_life_days: float = Field(7.0, gt=0)
    # The largest change of one channel's spend the budget shift suggests, as a fraction of it.
    max_shift: float = Field(0.2, gt=0, le=1)
    # Diminishing returns for the shift's cautious estimate: revenue ∝ spend^exponent.
    returns_exponent: float = Field(0.5, gt=0, le=1)
    # The models the section computes; the first one is what ROI and the budget shift rest on.
    models: tuple[Model, ...] = ("markov", "last", "first", "linear", "position", "time_decay")

    @field_validator("models")
    @classmethod
    def _some_distinct_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one model")
        repeated = sorted({m for m in value if value.count(m) > 1})
        if repeated:
            raise ValueError(f"models repeated: {', '.join(repeated)}")
        return value


# ---------------------------------------------------------------------------
# Paths: journeys encoded as integer touches
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """Journeys with their outcomes: the touches of every path concatenated (``codes``, indexes
    into ``labels``), path ``i`` being ``codes[starts[i]:starts[i + 1]]`` (never empty)."""

    labels: np.ndarray  # object: the channel (or (channel, campaign)) of each code
    codes: np.ndarray  # int64, one per touch
    starts: np.ndarray  # int64, len(paths) + 1 offsets
    conversions: np.ndarray  # float, per path
    value: np.ndarray  # float, per path
    nulls: np.ndarray  # float, per path: journeys that did not convert (ad hoc input)
    ages: np.ndarray | None = None  # float, per touch: days from the touch to its conversion

    def __post_init__(self) -> None:
        if len(self.starts) < 1 or np.any(np.diff(self.starts) < 1):
            raise ValueError("every path needs at least one touch")

    @property
    def count(self) -> int:
        return len(self.starts) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def path_of_touch(self) -> np.ndarray:
        return np.repeat(np.arange(self.count), self.lengths)

    def position_of_touch(self) -> np.ndarray:
        return np.arange(len(self.codes)) - np.repeat(self.starts[:-1], self.lengths)


class EmptyChannel(ValueError):
    """A path names an empty channel ("a >  > b", a trailing separator)."""

    def __init__(self, row: int, touch: int, touches: int):
        super().__init__(f"touch {touch} of {touches} is empty")
        self.row, self.touch, self.touches = row, touch, touches


def split_paths(texts: Sequence[str], conversions: Sequence[float], value: Sequence[float] | None = None,
                nulls: Sequence[float] | None = None, *, sep: str = ">") -> Paths:
    """:class:`Paths` from path texts ("a > b > a"): channels separated by ``sep``, blanks
    around them dropped; an empty channel raises :class:`EmptyChannel` naming the first."""
    texts = texts.tolist() if isinstance(texts, pd.Series) else list(texts)
    lengths = np.fromiter((text.count(sep) + 1 for text in texts), dtype=np.int64, count=len(texts))
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    # One split of all paths joined (a path boundary is one more separator), the blanks taken
    # off the distinct tokens only: 5x faster than splitting and stripping path by path.
    raw_codes, raw_labels = pd.factorize(np.array(sep.join(texts).split(sep), dtype=object), sort=False)
    codes, labels = pd.factorize(np.array([label.strip() for label in raw_labels], dtype=object), sort=False)
    codes = codes[raw_codes]
    labels = np.asarray(labels, dtype=object)
    empty = np.flatnonzero(labels == "")
    if empty.size:
        at = int(np.flatnonzero(codes == empty[0])[0])
        row = int(np.searchsorted(starts, at, side="right") - 1)
        raise EmptyChannel(row, at - int(starts[row]) + 1, int(lengths[row]))
    n = len(texts)
    return Paths(labels=labels, codes=codes.astype(np.int64), starts=starts,
                 conversions=np.asarray(conversions, dtype=float),
                 value=np.zeros(n) if value is None else np.asarray(value, dtype=float),
                 nulls=np.zeros(n) if nulls is None else np.asarray(nulls, dtype=float))


def encode_paths(paths: Sequence[Sequence[Any]], conversions: Sequence[float], value: Sequence[float] | None = None,
                 nulls: Sequence[float] | None = None) -> Paths:
    """:class:`Paths` from lists of touches (channel names), labels in order of first appearance."""
    lengths = np.fromiter((len(p) for p in paths), dtype=np.int64, count=len(paths))
    flat = [touch for path in paths for touch in path]
    codes, labels = pd.factorize(pd.Series(flat, dtype=object), sort=False)
    n = len(paths)
    return Paths(
        labels=np.asarray(labels, dtype=object),
        codes=codes.astype(np.int64),
        starts=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        conversions=np.asarray(conversions, dtype=float),
        value=np.zeros(n) if value is None else np.asarray(value, dtype=float),
        nulls=np.zeros(n) if nulls is None else np.asarray(nulls, dtype=float),
    )


# ---------------------------------------------------------------------------
# Heuristic models
# ---------------------------------------------------------------------------


def touch_weights(paths: Paths, model: str, *, ignore: np.ndarray | None = None,
                  half_life_days: float = 7.0) -> np.ndarray:
    """Each touch's share of its path's conversion (the shares of a path sum to 1).

    ``ignore``: for ``last``, a boolean per label (``direct``) that the last touch skips when
    the path has a touch that is not ignored. ``time_decay`` needs :attr:`Paths.ages`.
    """
    length = np.repeat(paths.lengths, paths.lengths).astype(float)
    position = paths.position_of_touch()
    first = position == 0
    last = position == length - 1
    if model == "first":
        return first.astype(float)
    if model == "last":
        if ignore is None or not ignore.any():
            return last.astype(float)
        kept = ~ignore[paths.codes]
        # per path, the position of its last kept touch (-1: none kept, the plain last touch)
        last_kept = np.maximum.reduceat(np.where(kept, position, -1), paths.starts[:-1])
        target = np.where(last_kept >= 0, last_kept, paths.lengths - 1)
        return (position == np.repeat(target, paths.lengths)).astype(float)
    if model == "linear":
        return 1.0 / length
    if model == "position":
        middle = np.where(length > 2, 0.2 / np.maximum(length - 2, 1), 0.0)
        ends = np.where(length == 1, 1.0, np.where(length == 2, 0.5, 0.4))
        return np.where(first | last, ends, middle)
    if model == "time_decay":
        if paths.ages is None:
            raise ValueError("time decay needs the days from each touch to its conversion; these paths have none")
        raw = np.exp2(-np.maximum(paths.ages, 0.0) / half_life_days)
        per_path = np.add.reduceat(raw, paths.starts[:-1])
        return raw / np.repeat(per_path, paths.lengths)
    raise ValueError(f"unknown heuristic model {model!r}; known: first, last, linear, position, time_decay")


def heuristic(paths: Paths, model: str, *, ignore: np.ndarray | None = None,
              half_life_days: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """(conversions, value) per label under a heuristic model (see :func:`touch_weights`)."""
    weights = touch_weights(paths, model, ignore=ignore, half_life_days=half_life_days)
    owner = paths.path_of_touch()
    size = len(paths.labels)
    conversions = np.bincount(paths.codes, weights * paths.conversions[owner], minlength=size)
    value = np.bincount(paths.codes, weights * paths.value[owner], minlength=size)
    return conversions, value


# ---------------------------------------------------------------------------
# Markov removal effects, exact
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkovResult:
    labels: np.ndarray
    conversions: np.ndarray  # attributed conversions per label (sum: the paths' conversions)
    value: np.ndarray  # attributed value per label (sum: the paths' value)
    removal_effect: np.ndarray  # 1 - P(conversion without the label)/P(conversion), raw
    removal_effect_value: np.ndarray  # the same for the expected conversion value
    p_conversion: float  # P(conversion) of a journey from (start)
    transitions: np.ndarray = field(repr=False)  # counts, states (start), labels..., (conversion), (null)


def collapse_repeats(paths: Paths) -> Paths:
    """The paths with consecutive repeats of a touch merged (a > a > b → a > b)."""
    owner = paths.path_of_touch()
    keep = np.ones(len(paths.codes), dtype=bool)
    keep[1:] = (paths.codes[1:] != paths.codes[:-1]) | (owner[1:] != owner[:-1])
    lengths = np.bincount(owner[keep], minlength=paths.count)
    return Paths(labels=paths.labels, codes=paths.codes[keep],
                 starts=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                 conversions=paths.conversions, value=paths.value, nulls=paths.nulls,
                 ages=None if paths.ages is None else paths.ages[keep])


def transition_counts(paths: Paths) -> np.ndarray:
    """Weighted transition counts between the states 0 = (start), 1..n = labels,
    n + 1 = (conversion), n + 2 = (null), repeats collapsed first.

    A path weighs its conversions plus its nulls on every step, its conversions on the step to
    (conversion) and its nulls on the step to (null), as ChannelAttribution counts them.
    """
    collapsed = collapse_repeats(paths)
    n = len(paths.labels)
    states = n + 3
    conv_state, null_state = n + 1, n + 2
    codes = collapsed.codes + 1
    owner = collapsed.path_of_touch()
    through = (collapsed.conversions + collapsed.nulls)[owner]
    inner = owner[1:] == owner[:-1]
    firsts = collapsed.starts[:-1]
    lasts = collapsed.starts[1:] - 1
    sources = np.concatenate([codes[:-1][inner], np.zeros(collapsed.count, np.int64),
                              codes[lasts], codes[lasts]])
    targets = np.concatenate([codes[1:][inner], codes[firsts],
                              np.full(collapsed.count, conv_state), np.full(collapsed.count, null_state)])
    weights = np.concatenate([through[1:][inner], collapsed.conversions + collapsed.nulls,
                              collapsed.conversions, collapsed.nulls])
    flat = np.bincount(sources * states + targets, weights, minlength=states * states)
    return flat.reshape(states, states)


def markov(paths: Paths) -> MarkovResult:
    """Exact first-order Markov attribution (removal effects) of ``paths``; see the module docstring."""
    n = len(paths.labels)
    counts = transition_counts(paths)
    out = counts.sum(axis=1, keepdims=True)
    probabilities = np.divide(counts, out, out=np.zeros_like(counts), where=out > 0)
    transient = n + 1  # (start) and the labels
    q = probabilities[:transient, :transient]
    to_conversion = probabilities[:transient, n + 1]
    fundamental = np.linalg.inv(np.eye(transient) - q)  # expected visits; finite: every state absorbs
    reach = fundamental[0] / np.diag(fundamental)  # P(a journey from (start) reaches each state)
    converts = fundamental @ to_conversion  # P(conversion) from each state
    # a conversion's expected value given the label its journey ends with
    collapsed_last = paths.codes[paths.starts[1:] - 1]
    value_by_last = np.bincount(collapsed_last, np.where(paths.conversions > 0, paths.value, 0.0), minlength=n)
    conversions_by_last = np.bincount(collapsed_last, paths.conversions, minlength=n)
    mean_value = np.concatenate([[0.0], np.divide(value_by_last, conversions_by_last,
                                                  out=np.zeros(n), where=conversions_by_last > 0)])
    earns = fundamental @ (to_conversion * mean_value)  # expected value from each state
    p_conversion = float(converts[0])
    removal = reach[1:] * converts[1:] / p_conversion if p_conversion > 0 else np.zeros(n)
    removal_value = reach[1:] * earns[1:] / earns[0] if earns[0] > 0 else np.zeros(n)
    return MarkovResult(
        labels=paths.labels,
        conversions=_share(removal, paths.conversions.sum()),
        value=_share(removal_value, paths.value.sum()),
        removal_effect=removal,
        removal_effect_value=removal_value,
        p_conversion=p_conversion,
        transitions=counts,
    )


def _share(weights: np.ndarray, total: float) -> np.ndarray:
    weight_sum = weights.sum()
    return weights / weight_sum * total if weight_sum > 0 else np.zeros_like(weights)


def attribute_paths(paths: Paths, model: str, *, ignore: np.ndarray | None = None,
                    half_life_days: float = 7.0) -> pd.DataFrame:
    """One model on ``paths``: ``label, conversions, value`` (+ ``removal_effect`` for markov),
    labels in order of first appearance."""
    if model == "markov":
        result = markov(paths)
        return pd.DataFrame({"label": result.labels, "conversions": result.conversions, "value": result.value,
                             "removal_effect": result.removal_effect})
    conversions, value = heuristic(paths, model, ignore=ignore, half_life_days=half_life_days)
    return pd.DataFrame({"label": paths.labels, "conversions": conversions, "value": value})


# ---------------------------------------------------------------------------
# Journeys from the warehouse's sessions and paid orders
# ---------------------------------------------------------------------------

JOURNEY_COLUMNS = ["conversion", "order_at", "value", "session_at", "days_before", "channel", "campaign", "touched"]


def build_journeys(touchpoints: pd.DataFrame, conversions: pd.DataFrame, *, lookback_days: int = 30) -> pd.DataFrame:
    """One row per touch of each conversion's journey, in time order.

    ``touchpoints``: ``user_id, session_id, session_at, utm_source, utm_campaign`` (one row per
    session; sql/weekly/attribution_touchpoints.sql). ``conversions``: ``order_id, user_id,
    order_at, amount``. A session is a touch of an order when it starts in
    [order_at - lookback_days, order_at]; a session can be a touch of two orders of its buyer.
    An order without such a session gets one ``direct`` touch (``touched`` False). Columns:
    ``conversion`` (the order's row number), ``order_at``, ``value``, ``session_at``,
    ``days_before``, ``channel``, ``campaign``, ``touched``.
    """
    orders = pd.DataFrame({
        "conversion": np.arange(len(conversions)),
        "user_id": conversions["user_id"].to_numpy(),
        "order_at": pd.to_datetime(conversions["order_at"], format="ISO8601").to_numpy(),
        "value": pd.to_numeric(conversions["amount"]).astype(float).to_numpy(),
    })
    sessions = pd.DataFrame({
        "user_id": touchpoints["user_id"].to_numpy(),
        "session_id": touchpoints["session_id"].to_numpy(),
        "session_at": pd.to_datetime(touchpoints["session_at"], format="ISO8601").to_numpy(),
        "channel": touchpoints["utm_source"].fillna(DIRECT).to_numpy(),
        "campaign": touchpoints["utm_campaign"].fillna(NO_CAMPAIGN).to_numpy(),
    })
    # an empty or blank tag is no tag, as a missing one
    for column, missing in (("channel", DIRECT), ("campaign", NO_CAMPAIGN)):
        blank = sessions[column].astype(str).str.strip() == ""
        sessions.loc[blank, column] = missing
    joined = orders.merge(sessions, on="user_id", how="inner")
    window = pd.Timedelta(days=lookback_days)
    joined = joined[(joined["session_at"] <= joined["order_at"])
                    & (joined["session_at"] >= joined["order_at"] - window)].copy()
    joined["touched"] = True
    untouched = orders[~orders["conversion"].isin(joined["conversion"])].copy()
    untouched["session_at"] = untouched["order_at"]
    untouched["session_id"] = ""
    untouched["channel"] = DIRECT
    untouched["campaign"] = NO_CAMPAIGN
    untouched["touched"] = False
    frame = pd.concat([joined, untouched], ignore_index=True)
    frame["days_before"] = (frame["order_at"] - frame["session_at"]).dt.total_seconds() / SECONDS_PER_DAY
    frame = frame.sort_values(["conversion", "session_at", "session_id"], kind="stable").reset_index(drop=True)
    return frame[JOURNEY_COLUMNS]


def journey_paths(journeys: pd.DataFrame, by: Sequence[str] = ("channel",)) -> Paths:
    """The journeys as :class:`Paths`, one path per conversion, touches labelled by ``by``
    (``("channel",)`` or ``("channel", "campaign")``)."""
    if journeys.empty:
        raise ValueError("no journeys")
    by = list(by)
    if len(by) == 1:
        codes, labels = pd.factorize(journeys[by[0]], sort=False)
        labels = np.asarray(labels, dtype=object)
    else:
        codes, uniques = pd.MultiIndex.from_frame(journeys[by]).factorize()
        labels = np.empty(len(uniques), dtype=object)
        labels[:] = list(uniques)
    conversion = journeys["conversion"].to_numpy()
    boundaries = np.flatnonzero(np.r_[True, conversion[1:] != conversion[:-1]])
    firsts = journeys.iloc[boundaries]
    return Paths(labels=labels, codes=codes.astype(np.int64),
                 starts=np.concatenate([boundaries, [len(journeys)]]).astype(np.int64),
                 conversions=np.ones(len(boundaries)), value=firsts["value"].to_numpy(dtype=float),
                 nulls=np.zeros(len(boundaries)), ages=journeys["days_before"].to_numpy(dtype=float))


def attribute(journeys: pd.DataFrame, cfg: AttributionConfig | None = None,
              by: Sequence[str] = ("channel",)) -> pd.DataFrame:
    """Every model of ``cfg.models`` on the journeys: ``model, *by, conversions, value``
    (+ ``removal_effect``, filled for markov). Each model's totals are the journeys' totals."""
    cfg = cfg or AttributionConfig()
    paths = journey_paths(journeys, by)
    channel_of = np.array([label if len(by) == 1 else label[0] for label in paths.labels], dtype=object)
    ignore = (channel_of == DIRECT) if cfg.last_touch_ignores_direct else None
    frames = []
    for model in cfg.models:
        frame = attribute_paths(paths, model, ignore=ignore, half_life_days=cfg.half_life_days)
        frame.insert(0, "model", model)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    if len(by) == 1:
        out = out.rename(columns={"label": by[0]})
    else:
        keys = pd.DataFrame(out["label"].tolist(), columns=list(by))
        out = pd.concat([out[["model"]], keys, out.drop(columns=["model", "label"])], axis=1)
    if "removal_effect" not in out:
        out["removal_effect"] = np.nan
    return out


# ---------------------------------------------------------------------------
# ROI and the budget shift
# ---------------------------------------------------------------------------


def roi_table(attributed: pd.DataFrame, spend: pd.DataFrame, by: Sequence[str] = ("channel",)) -> pd.DataFrame:
    """Attributed ``conversions, value`` of one model against ``spend``'s ``cost``, by ``by``:
    ``*by, cost, conversions, value, cpa, roas, roi``. A key with no spend has cost 0 and no
    CPA, ROAS or ROI (NaN); a key with spend and no conversion has no CPA, ROAS 0, ROI -100%."""
    by = list(by)
    left = attributed.groupby(by, sort=False)[["conversions", "value"]].sum()
    right = spend.groupby(by, sort=False)[["cost"]].sum()
    table = left.join(right, how="outer").reset_index()
    table[["conversions", "value", "cost"]] = table[["conversions", "value", "cost"]].fillna(0.0).astype(float)
    paid = table["cost"] > 0
    table["cpa"] = np.where(paid & (table["conversions"] > 0),
                            table["cost"] / table["conversions"].where(table["conversions"] > 0), np.nan)
    table["roas"] = np.where(paid, table["value"] / table["cost"].where(paid), np.nan)
    table["roi"] = table["roas"] - 1.0
    return table[[*by, "cost", "conversions", "value", "cpa", "roas", "roi"]]


@dataclass(frozen=True)
class BudgetShift:
    plan: pd.DataFrame  # channel, cost, roas, change, new_cost (the paid channels, best ROAS first)
    moved: float  # spend moved (taken from some channels, given to others)
    average_roas: float  # spend-weighted ROAS of the paid channels: below it gives, above it takes
    revenue_if_constant: float  # expected revenue change if each channel's ROAS holds at the margin
    revenue_if_diminishing: float  # if revenue ∝ spend^returns_exponent per channel
    max_shift: float
    returns_exponent: float


def budget_shift(roi: pd.DataFrame, *, max_shift: float = 0.2, returns_exponent: float = 0.5,
                 key: str = "channel") -> BudgetShift:
    """The budget-neutral shift from the channels below the average ROAS to those above it:
    at most ``max_shift`` of each channel's spend, worst channels give first, best take first."""
    if not 0 < max_shift <= 1:
        raise ValueError(f"max_shift must be in (0, 1]: {max_shift}")
    paid = roi[(roi["cost"] > 0)].sort_values(["roas", key], ascending=[False, True], kind="stable")
    plan = pd.DataFrame({key: paid[key].to_numpy(), "cost": paid["cost"].to_numpy(dtype=float),
                         "value": paid["value"].to_numpy(dtype=float), "roas": paid["roas"].to_numpy(dtype=float)})
    total_cost = plan["cost"].sum()
    average = float(plan["value"].sum() / total_cost) if total_cost > 0 else float("nan")
    change = np.zeros(len(plan))
    if len(plan) >= 2:
        cap = plan["cost"].to_numpy() * max_shift
        roas = plan["roas"].to_numpy()
        givers = np.flatnonzero(roas < average)[::-1]  # worst first
        takers = np.flatnonzero(roas > average)  # best first
        moved = min(cap[givers].sum(), cap[takers].sum())
        for indexes, sign in ((givers, -1.0), (takers, 1.0)):
            left = moved
            for i in indexes:
                step = min(cap[i], left)
                change[i] = sign * step
                left -= step
    plan["change"] = change
    plan["new_cost"] = plan["cost"] + change
    moved = float(change[change > 0].sum())
    constant = float((change * plan["roas"].to_numpy()).sum())
    ratio = plan["new_cost"].to_numpy() / plan["cost"].to_numpy()
    diminishing = float((plan["value"].to_numpy() * (ratio ** returns_exponent - 1.0)).sum())
    return BudgetShift(plan=plan.drop(columns=["value"]), moved=moved, average_roas=average,
                       revenue_if_constant=constant, revenue_if_diminishing=diminishing,
                       max_shift=max_shift, returns_exponent=returns_exponent)


# ---------------------------------------------------------------------------
# The week: load, analyse, render
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekInputs:
    touchpoints: pd.DataFrame  # sql/weekly/attribution_touchpoints.sql
    conversions: pd.DataFrame  # sql/weekly/attribution_conversions.sql
    spend: pd.DataFrame  # sql/weekly/attribution_spend.sql


def load_week(engine: Any, start: Any, end: Any, lookback_days: int) -> WeekInputs:
    """The week's paid orders, their buyers' sessions since ``lookback_days`` before ``start``,
    and the week's ad spend, from the warehouse."""
    from opscadence.core.sqlfiles import read_sql_frame

    params = {"start": start, "end": end, "lookback_start": start - timedelta(days=lookback_days)}
    with engine.connect() as conn:
        touchpoints = read_sql_frame(conn, "weekly/attribution_touchpoints", **params)
        conversions = read_sql_frame(conn, "weekly/attribution_conversions", **params)
        spend = read_sql_frame(conn, "weekly/attribution_spend", **params)
    spend["cost"] = pd.to_numeric(spend["cost"]).astype(float)
    return WeekInputs(touchpoints=touchpoints, conversions=conversions, spend=spend)


@dataclass(frozen=True)
class WeekAttribution:
    """The analysis the section renders."""

    model: str  # the model ROI and the shift rest on (the first of cfg.models)
    orders: int
    revenue: float
    untouched: int  # orders without a session in their lookback window (counted as direct)
    by_channel: pd.DataFrame  # attribute(..., by=("channel",)): every model
    by_campaign: pd.DataFrame  # attribute(..., by=("channel", "campaign"))
    channel_roi: pd.DataFrame  # roi_table of `model`, by channel
    campaign_roi: pd.DataFrame  # roi_table of `model`, by channel × campaign
    shift: BudgetShift
    spend_total: float
    cfg: AttributionConfig


def analyse_week(inputs: WeekInputs, cfg: AttributionConfig | None = None) -> WeekAttribution | None:
    """Attribution, ROI and the budget shift of a week; None when it has no paid order."""
    cfg = cfg or AttributionConfig()
    if inputs.conversions.empty:
        return None
    journeys = build_journeys(inputs.touchpoints, inputs.conversions, lookback_days=cfg.lookback_days)
    by_channel = attribute(journeys, cfg, ("channel",))
    by_campaign = attribute(journeys, cfg, ("channel", "campaign"))
    model = cfg.models[0]
    spend = inputs.spend[["channel", "campaign", "cost"]]
    channel_roi = roi_table(by_channel[by_channel["model"] == model], spend, ("channel",))
    campaign_roi = roi_table(by_campaign[by_campaign["model"] == model], spend, ("channel", "campaign"))
    shift = budget_shift(channel_roi, max_shift=cfg.max_shift, returns_exponent=cfg.returns_exponent)
    firsts = journeys.drop_duplicates("conversion")
    return WeekAttribution(
        model=model, orders=len(firsts), revenue=float(firsts["value"].sum()),
        untouched=int((~firsts["touched"]).sum()), by_channel=by_channel, by_campaign=by_campaign,
        channel_roi=channel_roi, campaign_roi=campaign_roi, shift=shift,
        spend_total=float(spend["cost"].sum()), cfg=cfg,
    )


_TEXT: Mapping[str, Mapping[str, str]] = {
    "zh-CN": {
        "title": "渠道归因与 ROI",
        "model.first": "首次触点",
        "model.last": "末次触点",
        "model.last_ignoring_direct": "末次非直接触点",
        "model.linear": "线性",
        "model.position": "位置 40/20/40",
        "model.time_decay": "时间衰减 (半衰期 {days:g} 天)",
        "model.markov": "马尔可夫移除效应",
        "summary": "{orders} 笔支付订单, 收入 {revenue}; 路径为每单之前 {days} 天内的会话; ROI 依据: {model}",
        "untouched": "{n} 笔订单在回溯窗口内没有会话, 记为直接访问",
        "channel": "• {channel}: 花费 {cost} · 转化 {conversions}{compare} · 收入 {value} · CPA {cpa} · ROAS {roas} · ROI {roi}",
        "channel_unpaid": "• {channel}: 无广告花费 · 转化 {conversions}{compare} · 收入 {value}",
        "compare": " ({model} {n})",
        "best_worst": "ROI 最高: {best} ({best_roi}); 最低: {worst} ({worst_roi})",
        "only_one": "只有一个投放渠道: {channel} ROI {roi}",
        "campaigns": "活动 ROI 最高: {best} ({best_roi}); 最低: {worst} ({worst_roi})",
        "campaign": "{campaign} ({channel})",
        "shift": "建议预算调整 (每渠道最多 ±{pct}, 总额不变): {moves}; 预计收入 {constant} (假设边际 ROAS 不变), "
                 "{diminishing} (若收益递减: 收入 ∝ 花费^{exponent:g})",
        "move": "{channel} {change}",
        "no_shift": "不建议调整预算: 没有两个 ROAS 不同的投放渠道",
        "no_orders": "本周没有支付订单: 没有可归因的转化",
        "no_spend": "本周没有广告花费记录: 无法计算 ROI、ROAS 和 CPA",
        "action_shift": "下周把 {moved} 预算从 {givers} 移到 {takers} (ROAS {low} → {high}), 预计收入 {constant} (边际 ROAS 不变时)",
        "action_zero": "检查 {channel} 的 UTM 标记和投放: 花费 {cost}, 归因转化为 0",
        "action_worst": "复查 {channel} 的投放: ROI {roi}, 花费 {cost} 只带来 {value} 归因收入",
        "action_campaign": "优化或暂停活动 {campaign}: ROI {roi}, 花费 {cost}",
        "roas": "{x:.2f}",
        "list_sep": "、",
    },
    "en": {
        "title": "Attribution and channel ROI",
        "model.first": "first touch",
        "model.last": "last touch",
        "model.last_ignoring_direct": "last non-direct touch",
        "model.linear": "linear",
        "model.position": "position 40/20/40",
        "model.time_decay": "time decay (half-life {days:g} days)",
        "model.markov": "Markov removal effect",
        "summary": "{orders} paid orders, revenue {revenue}; journeys: the sessions in the {days} days before each "
                   "order; ROI rests on: {model}",
        "untouched": "{n} orders had no session in their lookback window: counted as direct",
        "channel": "• {channel}: spend {cost} · conversions {conversions}{compare} · revenue {value} · CPA {cpa} · "
                   "ROAS {roas} · ROI {roi}",
        "channel_unpaid": "• {channel}: no ad spend · conversions {conversions}{compare} · revenue {value}",
        "compare": " ({model} {n})",
        "best_worst": "Best ROI: {best} ({best_roi}); worst: {worst} ({worst_roi})",
        "only_one": "One paid channel only: {channel} ROI {roi}",
        "campaigns": "Campaigns: best ROI {best} ({best_roi}); worst {worst} ({worst_roi})",
        "campaign": "{campaign} ({channel})",
        "shift": "Suggested budget shift (at most ±{pct} per channel, same total): {moves}; expected revenue "
                 "{constant} if ROAS holds at the margin, {diminishing} with diminishing returns "
                 "(revenue ∝ spend^{exponent:g})",
        "move": "{channel} {change}",
        "no_shift": "No budget shift suggested: no two paid channels with different ROAS",
        "no_orders": "No paid orders this week: nothing to attribute",
        "no_spend": "No ad spend recorded this week: ROI, ROAS and CPA cannot be judged",
        "action_shift": "Move {moved} of next week's budget from {givers} to {takers} (ROAS {low} → {high}): "
                        "expected revenue {constant} if ROAS holds at the margin",
        "action_zero": "Check the UTM tags and delivery of {channel}: spend {cost}, 0 attributed conversions",
        "action_worst": "Review {channel}'s campaigns: ROI {roi}, spend {cost} for {value} attributed revenue",
        "action_campaign": "Rework or pause campaign {campaign}: ROI {roi}, spend {cost}",
        "roas": "{x:.2f}",
        "list_sep": ", ",
    },
}


def _text(locale: str) -> Mapping[str, str]:
    try:
        return _TEXT[locale]
    except KeyError:
        raise ValueError(f"unsupported locale {locale!r}; expected one of {', '.join(_TEXT)}") from None


def model_label(model: str, cfg: AttributionConfig, locale: str) -> str:
    t = _text(locale)
    if model == "last" and cfg.last_touch_ignores_direct:
        return t["model.last_ignoring_direct"]
    return t[f"model.{model}"].format(days=cfg.half_life_days)


def _money(x: float, locale: str) -> str:
    return format_value(float(x), "currency", locale)


def _signed_money(x: float, locale: str) -> str:
    return format_delta(float(x), "currency", locale)


def _pct(x: float) -> str:
    return f"{x * 100:+.0f}%"


def _number(x: float) -> str:
    return f"{x:,.1f}"


def _or_na(x: float, fmt, locale: str) -> str:
    return strings(locale)["na"] if x is None or not np.isfinite(x) else fmt(x)


def _channel(value: object, locale: str) -> str:
    return dimension_value_text(value, locale, dimension="channel")


def _campaign(row: Mapping[str, Any], locale: str) -> str:
    return _text(locale)["campaign"].format(
        campaign=dimension_value_text(row["campaign"], locale, dimension="campaign"), channel=_channel(row["channel"], locale))


def _jsonable(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()} for row in rows]


def render_section(week: WeekAttribution | None, locale: str) -> WeeklySection:
    """The section of an analysed week (None: a week without paid orders, stated as a finding)."""
    t = _text(locale)
    if week is None:
        return WeeklySection(key="attribution", title=t["title"], lines=(), findings=(t["no_orders"],),
                             data={"orders": 0})
    cfg = week.cfg
    money = lambda x: _money(x, locale)  # noqa: E731
    roas_text = lambda x: t["roas"].format(x=x)  # noqa: E731
    lines = [t["summary"].format(orders=week.orders, revenue=money(week.revenue), days=cfg.lookback_days,
                                 model=model_label(week.model, cfg, locale))]
    findings = []
    if week.untouched:
        findings.append(t["untouched"].format(n=week.untouched))
    if week.spend_total <= 0:
        findings.append(t["no_spend"])
    compare_model = "last" if week.model != "last" and "last" in cfg.models else None
    compared = {}
    if compare_model:
        other = week.by_channel[week.by_channel["model"] == compare_model]
        compared = dict(zip(other["channel"], other["conversions"]))
    table = week.channel_roi.sort_values(["cost", "value"], ascending=False, kind="stable")
    for row in table.to_dict(orient="records"):
        compare = (t["compare"].format(model=model_label(compare_model, cfg, locale),
                                       n=_number(compared.get(row["channel"], 0.0))) if compare_model else "")
        if row["cost"] > 0:
            lines.append(t["channel"].format(
                channel=_channel(row["channel"], locale), cost=money(row["cost"]),
                conversions=_number(row["conversions"]), compare=compare, value=money(row["value"]),
                cpa=_or_na(row["cpa"], money, locale), roas=roas_text(row["roas"]), roi=_pct(row["roi"])))
        else:
            lines.append(t["channel_unpaid"].format(channel=_channel(row["channel"], locale),
                                                    conversions=_number(row["conversions"]), compare=compare,
                                                    value=money(row["value"])))
    paid = week.channel_roi[week.channel_roi["cost"] > 0].sort_values(["roi", "channel"], ascending=[False, True])
    actions: list[NextAction] = []
    data: dict[str, Any] = {
        "model": week.model, "orders": week.orders, "revenue": week.revenue, "untouched": week.untouched,
        "spend": week.spend_total, "channels": _jsonable(week.channel_roi),
        "campaigns": _jsonable(week.campaign_roi),
        "models": _jsonable(week.by_channel),
    }
    if len(paid) == 1:
        row = paid.iloc[0]
        lines.append(t["only_one"].format(channel=_channel(row["channel"], locale), roi=_pct(row["roi"])))
        data["best"] = data["worst"] = row["channel"]
    elif len(paid) >= 2:
        best, worst = paid.iloc[0], paid.iloc[-1]
        lines.append(t["best_worst"].format(best=_channel(best["channel"], locale), best_roi=_pct(best["roi"]),
                                            worst=_channel(worst["channel"], locale), worst_roi=_pct(worst["roi"])))
        data["best"], data["worst"] = best["channel"], worst["channel"]
        if worst["roi"] < 0:
            actions.append(NextAction(t["action_worst"].format(
                channel=_channel(worst["channel"], locale), roi=_pct(worst["roi"]), cost=money(worst["cost"]),
                value=money(worst["value"])), priority=2))
    campaigns = week.campaign_roi[week.campaign_roi["cost"] > 0].sort_values(
        ["roi", "channel", "campaign"], ascending=[False, True, True])
    if len(campaigns) >= 2:
        best, worst = campaigns.iloc[0], campaigns.iloc[-1]
        lines.append(t["campaigns"].format(best=_campaign(best, locale), best_roi=_pct(best["roi"]),
                                           worst=_campaign(worst, locale), worst_roi=_pct(worst["roi"])))
        data["best_campaign"] = {"channel": best["channel"], "campaign": best["campaign"]}
        data["worst_campaign"] = {"channel": worst["channel"], "campaign": worst["campaign"]}
        if worst["roi"] < 0:
            actions.append(NextAction(t["action_campaign"].format(
                campaign=_campaign(worst, locale), roi=_pct(worst["roi"]), cost=money(worst["cost"])), priority=3))
    shift = week.shift
    data["shift"] = {"moved": shift.moved, "average_roas": shift.average_roas,
                     "revenue_if_constant": shift.revenue_if_constant,
                     "revenue_if_diminishing": shift.revenue_if_diminishing, "max_shift": shift.max_shift,
                     "returns_exponent": shift.returns_exponent, "plan": _jsonable(shift.plan)}
    if shift.moved > 0:
        moves = shift.plan[shift.plan["change"] != 0]
        lines.append(t["shift"].format(
            pct=f"{shift.max_shift * 100:.0f}%",
            moves=", ".join(t["move"].format(channel=_channel(r["channel"], locale),
                                             change=_signed_money(r["change"], locale))
                            for r in moves.to_dict(orient="records")),
            constant=_signed_money(shift.revenue_if_constant, locale),
            diminishing=_signed_money(shift.revenue_if_diminishing, locale), exponent=shift.returns_exponent))
        givers, takers = moves[moves["change"] < 0], moves[moves["change"] > 0]
        actions.append(NextAction(t["action_shift"].format(
            moved=money(shift.moved),
            givers=t["list_sep"].join(_channel(c, locale) for c in givers["channel"]),
            takers=t["list_sep"].join(_channel(c, locale) for c in takers["channel"]),
            low=roas_text(givers["roas"].min()), high=roas_text(takers["roas"].max()),
            constant=_signed_money(shift.revenue_if_constant, locale)), priority=1))
    elif len(paid) >= 1:
        lines.append(t["no_shift"])
    for row in paid[paid["conversions"] <= 0].to_dict(orient="records"):
        actions.append(NextAction(t["action_zero"].format(channel=_channel(row["channel"], locale),
                                                          cost=money(row["cost"])), priority=1))
    actions.sort(key=lambda a: a.priority)
    return WeeklySection(key="attribution", title=t["title"], lines=tuple(lines), actions=tuple(actions),
                         findings=tuple(findings), data=data)


def section_config(cfg: Any) -> AttributionConfig:
    """``weekly.attribution`` of a configuration, the defaults when it has none."""
    found = getattr(getattr(cfg, "weekly", None), "attribution", None)
    if isinstance(found, Mapping):
        return AttributionConfig.model_validate(found)
    return found or AttributionConfig()


def weekly_section(ctx: WeeklyContext) -> WeeklySection:
    """The weekly brief's attribution section (a :data:`~opscadence.analytics.weekly.sections.SectionProvider`)."""
    cfg = section_config(ctx.cfg)
    inputs = load_week(ctx.engine, ctx.period.start, ctx.period.end, cfg.lookback_days)
    return render_section(analyse_week(inputs, cfg), ctx.locale)

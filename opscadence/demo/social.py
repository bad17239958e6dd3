"""A deterministic demo social app: sessions, post views, likes, comments, follows, posts and
shares, with the shop's people, traffic and ad spend, and no orders.

``generate_social_frames`` builds one pandas frame per raw table (keys of
:data:`opscadence.warehouse.RAW_TABLES`; ``orders`` and ``payments`` are empty: the social
pack does not read them, see ``REQUIRED_TABLES`` in :mod:`opscadence.metrics.catalog`) for
``days`` days ending on ``end_date``; the same ``(users, days, seed, end_date)`` always gives
identical frames.

Each session opens the feed (``session_start``), views posts (``post_view``) and may go on
to interact: like, comment, follow, publish a post (``post``) and share it (``share``, only
after posting, so the funnel visit → interact → post → share narrows step by step). Every
event carries its engagement seconds, so interaction time per DAU is their sum over DAU.

Planted stories (:mod:`opscadence.demo.incidents`):

* ``share_incident_day`` (== ``end``): sharing fails on ``ios`` (share probability × 0.1),
  the share rate falls well over 15% below the same weekday a week earlier; complaints
  about sharing in the feedback that day;
* ``dau_drop_day`` (``end`` − 9 days): DAU ~28% below the same weekday a week earlier,
  concentrated on ``android``, as in the shop;
* ad spend as in the shop: ``wechat``'s CTR stays under 1%.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from opscadence.demo import events, feedback, incidents
from opscadence.demo.ads import LOW_CTR_CHANNEL, ad_spend_frame
from opscadence.demo.events import Timeline
from opscadence.demo.shop import Population, check_size, columns, demo_population, users_frame, window
from opscadence.demo.visits import Sessions, draw_sessions, not_bounced
from opscadence.warehouse import RAW_TABLES

# The social app's event types in their order inside a session.
EV_START, EV_VIEW, EV_LIKE, EV_COMMENT, EV_FOLLOW, EV_POST, EV_SHARE = range(7)
EV_NAMES = np.array(["session_start", "post_view", "like", "comment", "follow", "post", "share"], dtype=object)
EV_ENGAGEMENT_MEAN = np.array([30.0, 18.0, 2.0, 25.0, 3.0, 60.0, 6.0])
INTERACTIONS = ("like", "comment", "follow", "post", "share")  # what counts as interacting

N_POSTS = 2000
N_CREATORS = 300
START_PAGES = np.array(["/feed", "/explore", "/notifications"], dtype=object)
START_P = np.array([0.7, 0.2, 0.1])

P_INTERACT = 0.7  # of the logged-in sessions past the feed
P_POST = 0.5  # of the interacting sessions (the signup session: 0.7)
P_SHARE = 0.6  # of the posting sessions


@dataclass(frozen=True)
class DemoSocialApp:
    start: date  # first ds generated
    end: date  # last ds generated (the "latest complete day")
    share_incident_day: date  # == end
    dau_drop_day: date
    low_ctr_channel: str
    row_counts: dict[str, int]  # per raw table key ("users", "events", ...)

    def planted(self) -> list[str]:
        """One line per planted story, as ``opscadence demo --vertical social`` prints them."""
        return [
            f"share rate more than 15% below the same weekday last week on {self.share_incident_day}"
            " (sharing fails on ios)",
            f"DAU more than 15% below the same weekday last week on {self.dau_drop_day}",
            f"channel with CTR under 1%: {self.low_ctr_channel}",
        ]


@dataclass
class SocialActions:
    """What each session does past the feed (counts per session)."""

    nb: np.ndarray  # not bounced
    views: np.ndarray
    likes: np.ndarray
    comments: np.ndarray
    follows: np.ndarray
    post: np.ndarray
    share: np.ndarray


def social_days(days: int) -> incidents.PlantedDays:
    """The social app's stories: no promotion, the DAU drop on ``end`` − 9, the share incident on ``end``."""
    return incidents.PlantedDays(promo=None, drop=days - 1 - 9, incident=days - 1)


def draw_social_actions(rng: np.random.Generator, pop: Population, s: Sessions) -> SocialActions:
    """Bounce, post views, then likes, comments and follows of the interacting sessions; a post
    (new members more often) and its share; on the incident day sharing fails on ios."""
    S = s.count
    nb = not_bounced(rng, s)
    views = np.where(nb, 1 + rng.poisson(3.0, S), 0)
    interact = nb & s.registered & (rng.random(S) < P_INTERACT)  # interacting requires login
    likes = np.where(interact, rng.poisson(1.5, S), 0)
    comments = np.where(interact & (rng.random(S) < 0.35), 1 + rng.poisson(0.3, S), 0)
    follows = np.where(interact & (rng.random(S) < 0.2), 1, 0)
    post = interact & (rng.random(S) < np.where(s.signup, 0.7, P_POST))
    p_share = np.full(S, P_SHARE)
    incident = s.day == pop.planted.incident
    p_share[incident] = incidents.share_drop(p_share[incident], s.platform[incident])
    share = post & (rng.random(S) < p_share)
    # an interacting session does at least one thing: a like when it drew nothing else
    likes = np.where(interact & (likes + comments + follows + post == 0), 1, likes)
    return SocialActions(nb=nb, views=views, likes=likes, comments=comments, follows=follows, post=post, share=share)


def social_timeline(rng: np.random.Generator, a: SocialActions) -> Timeline:
    counts = np.stack([np.ones(len(a.nb), np.int64), a.views, a.likes, a.comments, a.follows, a.post, a.share],
                      axis=1).astype(np.int64)
    return events.session_timeline(rng, counts, EV_ENGAGEMENT_MEAN, a.nb)


def social_pages(rng: np.random.Generator, tl: Timeline, views: np.ndarray) -> np.ndarray:
    """The page of each event: the feed (or explore, notifications), posts by popularity, likes
    and comments on the session's last viewed post, a creator's page, the composer."""
    E, e_type = tl.count, tl.e_type
    post_w = 1.0 / np.arange(1, N_POSTS + 1) ** 0.8
    post_pages = np.array([f"/post/p{i:05d}" for i in range(1, N_POSTS + 1)], dtype=object)
    page = post_pages[rng.choice(N_POSTS, size=E, p=post_w / post_w.sum())]
    page = np.where(e_type == EV_START, START_PAGES[rng.choice(len(START_PAGES), size=E, p=START_P)], page)
    on_post = (e_type == EV_LIKE) | (e_type == EV_COMMENT)
    last_view = tl.sess_first[tl.e_sess] + views[tl.e_sess]  # index of the session's last post_view
    page[on_post] = page[last_view[on_post]]
    is_follow = e_type == EV_FOLLOW
    creators = np.array([f"/creator/c{i:04d}" for i in range(1, N_CREATORS + 1)], dtype=object)
    page[is_follow] = creators[rng.integers(0, N_CREATORS, int(is_follow.sum()))]
    page[e_type == EV_POST] = "/compose"
    page[e_type == EV_SHARE] = "/compose/share"
    return page


SOCIAL = feedback.Pools(
    positive=[
        "内容推荐越来越准了，很喜欢", "界面清爽，刷起来很顺畅", "认识了很多志同道合的朋友", "发帖很方便，滤镜好看",
        "Love the new feed, very relevant.", "Posting is quick and easy.", "Met great people here.",
        "The comments section is friendly.",
    ],
    neutral=[
        "视频加载有点慢", "希望可以按时间排序", "通知有点多", "Would like a dark mode.",
        "Feed refresh is a bit slow.", "Search could find people more easily.",
    ],
    negative=[
        "推荐的内容越来越重复", "广告太多了", "评论区有垃圾信息", "上传图片经常失败",
        "Too many ads in the feed.", "The app drains my battery.", "Upload keeps failing on mobile data.",
    ],
    urgent=[
        "账号被封", "账号被封了，无法登录，请尽快处理", "被盗号了，帖子被删", "my account was banned",
        "Someone hacked my account and deleted my posts.",
    ],
    incident=[
        "分享失败", "iPhone 上分享到朋友圈一直失败", "点分享没反应", "分享按钮转圈然后报错",
        "Sharing fails on my iPhone.", "Share button does nothing on iOS.", "Cannot share my post, please fix!",
    ],
)


def build_social_days(rng: np.random.Generator, pop: Population, days: list[int]) -> dict[str, pd.DataFrame]:
    """Every raw table's rows for the consecutive day indexes ``days``, drawn from ``rng`` in a
    fixed order: visitors and sessions, what each session does, event times and pages,
    signups, ad spend, feedback; no orders or payments."""
    s = draw_sessions(rng, pop, days)
    actions = draw_social_actions(rng, pop, s)
    tl = social_timeline(rng, actions)
    s_start = events.session_starts(rng, tl, np.zeros(s.count))
    pages = social_pages(rng, tl, actions.views)
    events_df = events.events_frame(pop, s, tl, s_start, EV_NAMES, pages, window_ids=True)
    signup = np.flatnonzero(s.signup)
    # registered while on the feed, before the first post view
    users_df = users_frame(rng, pop, s.visitor, s.day, signup, s_start[signup], tl.offset[tl.sess_first[signup] + 1])
    frames = {
        "users": users_df,
        "events": events_df,
        "ad_spend": ad_spend_frame(rng, pop, days, sum_order="demo"),
        "feedback": feedback.feedback_frame(rng, pop, days, SOCIAL),
    }
    # the tables the social pack does not read are written empty (a rerun over a shop clears them)
    return {key: frames.get(key, pd.DataFrame(columns=columns(key))) for key in RAW_TABLES}


def generate_social_frames(
    *, users: int = 10_000, days: int = 60, seed: int = 7, end_date: date
) -> tuple[dict[str, pd.DataFrame], DemoSocialApp]:
    """Generate the demo social app's raw tables for ``days`` days ending on ``end_date``."""
    check_size(users, days)
    rng = np.random.default_rng(seed)
    pop = demo_population(rng, users, window(end_date, int(days)), social_days(int(days)))
    frames = build_social_days(rng, pop, list(range(int(days))))
    app = DemoSocialApp(
        start=pop.dates[0],
        end=pop.dates[-1],
        share_incident_day=pop.dates[pop.planted.incident],
        dau_drop_day=pop.dates[pop.planted.drop],
        low_ctr_channel=LOW_CTR_CHANNEL,
        row_counts={k: len(v) for k, v in frames.items()},
    )
    return frames, app

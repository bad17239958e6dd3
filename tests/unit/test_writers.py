"""bulk_insert: every pandas dtype a source produces lands as the value it holds, a missing one as NULL."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from opscadence.warehouse.writers import bulk_insert


@pytest.mark.parametrize("dtype", [object, "string"])
def test_a_missing_text_value_lands_as_null_not_as_the_text_nan(engine, dtype):
    # A pandas string column reports itself as "string" text even when a value is missing; that
    # value must land as NULL (the staging layer maps NULL channels to 'direct'), never as 'nan'.
    frame = pd.DataFrame({
        "ds": [date(2026, 11, 3)] * 3,
        "channel": pd.Series(["ads", None, "seo"], dtype=dtype),
        "campaign": pd.Series(["c1", "c2", "c3"], dtype=dtype),  # no missing value: the fast path
        "impressions": [10, 20, 30],
        "clicks": [1, 2, 3],
        "cost": [1.5, 2.5, 3.5],
    })
    frame.loc[1, "channel"] = None  # "string" dtype keeps it as <NA>
    # Its own table with a nullable text column (raw tables' dimension columns are nullable too).
    table_nullable = sa.Table("t_nullable_text", sa.MetaData(), sa.Column("ds", sa.Date),
                              sa.Column("channel", sa.String(64)), sa.Column("campaign", sa.String(255)),
                              sa.Column("impressions", sa.BigInteger), sa.Column("clicks", sa.BigInteger),
                              sa.Column("cost", sa.Numeric(14, 2)))
    table_nullable.create(engine)
    try:
        with engine.begin() as conn:
            bulk_insert(conn, table_nullable, frame)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table_nullable.c.channel, table_nullable.c.campaign)
                                .order_by(table_nullable.c.campaign)).all()
    finally:
        table_nullable.drop(engine)
    assert [tuple(r) for r in rows] == [("ads", "c1"), (None, "c2"), ("seo", "c3")]

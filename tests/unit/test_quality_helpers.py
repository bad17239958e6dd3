"""The small helpers the validation paths share: samples, GX result reading, the frame GX gets."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from opscadence.quality.gx_runtime import gx_frame
from opscadence.quality.interpret import columns_of, exception_message
from opscadence.quality.samples import sampler, sql_sample

DS = date(2026, 11, 24)


def test_sql_sample_keeps_ids_only_sorted_deduplicated_and_capped():
    labels = [
        {"order_id": "o3", "amount": -5},  # GX adds the checked value: dropped
        {"order_id": "o1", "status": "lost"},
        {"order_id": "o3", "amount": -7},  # the same record again
        "row 7",  # not an id row: skipped
        {"order_id": None},
        {"amount": 1},  # no id column: skipped
    ]
    # sorted as text: "order_id=NULL" < "order_id=o1" < "order_id=o3"
    assert sql_sample("orders", labels) == ["order_id=NULL", "order_id=o1", "order_id=o3"]
    many = [{"order_id": f"o{i}"} for i in range(9, 0, -1)]  # o9 .. o1
    assert sql_sample("orders", many) == ["order_id=o1", "order_id=o2", "order_id=o3", "order_id=o4", "order_id=o5"]
    assert sql_sample("orders", [{"order_id": "x" * 70}]) == ["order_id=" + "x" * 64 + "…"]  # clipped at 64


def test_sampler_words_frame_rows_with_row_numbers_or_as_sql_does():
    frame = pd.DataFrame({"order_id": ["o5", None, "o2"], "amount": [-1.0, -2.0, -3.0]},
                         index=pd.RangeIndex(10, 13))
    # row labels 12, 10, 11 in GX's order; the amount never appears
    assert sampler(frame, "orders", id_samples=False)([12, 10, 11]) == [
        "order_id=o2 (row 12)", "order_id=o5 (row 10)", "row 11"]
    # ids only, sorted: "order_id=NULL" < "order_id=o2" < "order_id=o5"
    assert sampler(frame, "orders", id_samples=True)([12, 10, 11]) == [
        "order_id=NULL", "order_id=o2", "order_id=o5"]


def test_exception_message_reads_flat_and_per_metric_exception_info():
    assert exception_message({"raised_exception": True, "exception_message": "boom"}) == "boom"
    per_metric = {"m1": {"raised_exception": False}, "m2": {"raised_exception": True, "exception_message": ""}}
    assert exception_message(per_metric) == "error"  # raised without a message
    assert exception_message({"raised_exception": False, "exception_message": None}) is None
    assert exception_message(None) is None


def test_columns_of_names_every_column_argument_in_order():
    assert columns_of({"column": "x", "column_list": ["y", "z"]}) == ["x", "y", "z"]
    assert columns_of({"column_A": "paid_at", "column_B": "order_at", "or_equal": True}) == ["paid_at", "order_at"]
    assert columns_of({"min_value": 0}) == []


def test_gx_frame_gives_gx_plain_labels_a_ds_column_and_numpy_backed_columns():
    frame = pd.DataFrame(
        {"n": pd.array([1, None], dtype="Int64"), "status": ["paid", None],
         "at": pd.to_datetime([datetime(2026, 11, 24, 8), datetime(2026, 11, 24, 9)]).astype("datetime64[us]")},
        index=pd.Index([7, 7], name="line"),
    )
    out = gx_frame(frame, DS)
    assert list(out.index) == [0, 1] and out.index.name is None  # duplicated labels renumbered, no name
    assert out["ds"].tolist() == [DS, DS]
    assert out["n"].dtype == "float64" and pd.isna(out["n"].iloc[1])
    assert isinstance(out["status"].dtype, pd.CategoricalDtype) and pd.isna(out["status"].iloc[1])
    assert out["at"].dtype == "datetime64[ns]"
    assert "ds" not in frame.columns and frame["n"].dtype == "Int64"  # the caller's frame is left as it was
    named = gx_frame(pd.DataFrame({"ds": [DS]}, index=pd.Index([3], name="line")), DS)
    assert list(named.index) == [3] and named.index.name is None  # a unique named index keeps its labels

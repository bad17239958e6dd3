"""A file into a message's thread: shared once, kept in the outbox without Slack, an unknown upload looked for."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from opscadence import warehouse
from opscadence.delivery.files import OUTBOX, STATUS_UPLOADING, UNCHANGED, UPLOADED, deliver_file
from opscadence.delivery.slack import RecordingSlackClient, SlackDeliveryError

DS = date(2026, 11, 16)


def _deliver(engine, client, path, outbox, digest="d" * 64, thread_ts="1700000001.000100"):
    return deliver_file(engine, client, kind="weekly-chart", ds=DS, period="2026-W47", channel="#ops-brief",
                        channel_id="C0001", thread_ts=thread_ts, path=path, content_hash=digest, title="chart",
                        outbox_dir=outbox)


def test_shared_once_then_unchanged_and_again_only_for_new_content(sqlite_engine, tmp_path):
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG fake")
    client = RecordingSlackClient()
    assert _deliver(sqlite_engine, client, png, tmp_path / "outbox").status == UPLOADED
    assert _deliver(sqlite_engine, client, png, tmp_path / "outbox").status == UNCHANGED
    assert len(client.uploads) == 1 and client.uploads[0].thread_ts == "1700000001.000100"
    assert _deliver(sqlite_engine, client, png, tmp_path / "outbox", digest="e" * 64).status == UPLOADED
    assert len(client.uploads) == 2  # new content: a new chart in the thread


def test_without_slack_it_is_kept_in_the_outbox_and_removed_once_shared(sqlite_engine, tmp_path):
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG fake")
    kept = _deliver(sqlite_engine, None, png, tmp_path / "outbox")
    assert kept.status == OUTBOX and not kept.failed
    assert kept.path == tmp_path / "outbox" / "weekly-chart-2026-W47.png" and kept.path.read_bytes() == png.read_bytes()
    assert _deliver(sqlite_engine, RecordingSlackClient(), png, tmp_path / "outbox").status == UPLOADED
    assert not kept.path.exists()


def test_an_upload_whose_answer_was_lost_is_found_in_the_thread_not_repeated(sqlite_engine, tmp_path):
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG fake")
    client = RecordingSlackClient()

    def lost(*args, **kwargs):  # the file got there, the answer did not
        RecordingSlackClient.upload_file(client, *args, **kwargs)
        raise SlackDeliveryError("Slack files.upload_v2 failed: no answer (timeout)", error="timeout",
                                 outcome_unknown=True)

    client.upload_file = lost
    first = _deliver(sqlite_engine, client, png, tmp_path / "outbox")
    assert first.status == OUTBOX and first.failed
    with sqlite_engine.connect() as conn:
        assert conn.execute(sa.select(warehouse.briefs.c.status)).scalar_one() == STATUS_UPLOADING
    del client.upload_file  # the next run's upload would succeed, but it must not be needed
    again = _deliver(sqlite_engine, client, png, tmp_path / "outbox")
    assert again.status == UPLOADED and again.file_id == "F0001" and len(client.uploads) == 1

"""How `opscadence` reports failures: expected ones as one line (exit 2), the rest masked (exit 1)."""

from __future__ import annotations

import logging
import sys

import pytest

from opscadence import cli
from opscadence.core.errors import UserError
from opscadence.core.privacy import mask_secrets


@pytest.mark.parametrize(("text", "masked"), [
    ("postgresql+psycopg://ops:hunter2@db.internal:5432/shop", "postgresql+psycopg://ops:***@db.internal:5432/shop"),
    ("at redis://:hunter2@cache:6379/0 and mysql://u:p%40ss@h/db", "at redis://:***@cache:6379/0 and mysql://u:***@h/db"),
    ("postgresql://ops@db/shop", "postgresql://ops@db/shop"),  # no password: unchanged
    ("https://example.com:8443/a@b", "https://example.com:8443/a@b"),  # a port, not a password
])
def test_url_passwords_are_masked(text, masked):
    assert mask_secrets(text, []) == masked


def _failing(exc: BaseException):
    def command(_args):
        raise exc
    return command


def test_unexpected_error_is_one_masked_line_with_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cmd_config", _failing(
        RuntimeError("lost postgresql://ops:hunter2@db/shop\nwhile posting with xoxb-1234-abcd")))
    assert cli.main(["config"]) == 1
    err = capsys.readouterr().err
    assert err == ("opscadence: unexpected error: RuntimeError: lost postgresql://ops:***@db/shop; "
                   "while posting with *** (run with --debug for the traceback)\n")


def test_debug_reraises_whatever_the_position(monkeypatch):
    monkeypatch.setattr(cli, "_cmd_config", _failing(RuntimeError("boom")))
    for argv in (["--debug", "config"], ["config", "--debug"]):
        with pytest.raises(RuntimeError, match="boom"):
            cli.main(argv)
    monkeypatch.setenv("OPSCADENCE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["config"])


def test_user_error_keeps_its_exit_code(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cmd_config", _failing(UserError("2 messages not delivered", exit_code=3)))
    assert cli.main(["config"]) == 3
    assert capsys.readouterr().err == "opscadence: 2 messages not delivered\n"


def test_a_missing_file_is_an_expected_failure(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cmd_config", _failing(FileNotFoundError(2, "No such file or directory", "/srv/x.csv")))
    assert cli.main(["config"]) == 2
    assert capsys.readouterr().err == "opscadence: /srv/x.csv: No such file or directory\n"


def test_interrupt_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cmd_config", _failing(KeyboardInterrupt()))
    assert cli.main(["config"]) == 130
    assert capsys.readouterr().err == "opscadence: interrupted\n"


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1,
                             "Encountered exception during execution: %r", (exc,), info)


def test_flow_logs_drop_only_a_user_errors_traceback():
    quiet = cli._NoUserErrorTraceback()
    user = _record(UserError("--end 2026-11-10 is before --start 2026-11-20"))
    other = _record(RuntimeError("a bug"))
    assert quiet.filter(user) and quiet.filter(other)  # both lines are still logged
    assert user.exc_info is None
    assert other.exc_info is not None and other.exc_info[0] is RuntimeError


def test_one_line_joins_a_list_of_bad_keys():
    assert cli._one_line("invalid configuration (c.yaml):\n  locale: bad\n  timezone: bad\n") == \
        "invalid configuration (c.yaml): locale: bad; timezone: bad"
    assert cli._one_line("first\nsecond") == "first; second"

"""The process pool's workers get the flow's temporary API server (flows.backfill.workers_use_this_api):
without it each spawned worker started a temporary Prefect server of its own."""

from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.backfill import workers_use_this_api
from opscadence.core.config import BackfillConfig


class _RunningServer:
    running = True
    api_url = "http://127.0.0.1:8765/api"


def test_workers_are_handed_the_running_temporary_server(monkeypatch):
    monkeypatch.setitem(SubprocessASGIServer._instances, None, _RunningServer())
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert PREFECT_API_URL.value() is None
        with workers_use_this_api(BackfillConfig(runner="process")):
            assert PREFECT_API_URL.value() == "http://127.0.0.1:8765/api"
        assert PREFECT_API_URL.value() is None  # restored after the backfill
        with workers_use_this_api(BackfillConfig(runner="dask")):  # Dask workers may be remote
            assert PREFECT_API_URL.value() is None


def test_a_configured_api_or_no_temporary_server_is_left_alone(monkeypatch):
    with temporary_settings(updates={PREFECT_API_URL: "http://prefect.example:4200/api"}):
        monkeypatch.setitem(SubprocessASGIServer._instances, None, _RunningServer())
        with workers_use_this_api(BackfillConfig(runner="process")):
            assert PREFECT_API_URL.value() == "http://prefect.example:4200/api"
    monkeypatch.delitem(SubprocessASGIServer._instances, None, raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with workers_use_this_api(BackfillConfig(runner="process")):
            assert PREFECT_API_URL.value() is None

"""A real Prefect server and a real process worker, as subprocesses, for end-to-end tests.

Not Prefect's in-process test harness: ``prefect server start`` and ``prefect worker start``
run as their own processes (own PREFECT_HOME, own SQLite database, a free loopback port), the
deployment is registered with the CLI from ``prefect.yaml``, and flow runs are executed by the
worker in child processes, as in production. No pytest dependency.

Every process is started in its own session (process group); :meth:`ManagedProcess.stop`
terminates that group and any descendant that left it, and escalates to SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"

# Variables of the test process that must not leak into the server, worker or flow runs.
_LEAKY_PREFIXES = ("PREFECT_", "OPSCADENCE_", "SLACK_")


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without Prefect/opscadence/Slack variables, telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES)}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; empty elsewhere)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        for child in _children(stack.pop()):
            found.append(child)
            stack.append(child)
    return found


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# Run as `python -c _PDEATHSIG_EXEC <parent pid> <command...>`: ask Linux to SIGTERM this process
# when the test process dies (even by SIGKILL), then exec the command (the setting survives exec).
# Done this way rather than with preexec_fn, which is unsafe in a process with threads.
_PDEATHSIG_EXEC = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)  # the test process is already gone
os.execvp(sys.argv[2], sys.argv[2:])
"""


class ManagedProcess:
    """A subprocess in its own session, its output in a log file.

    It gets SIGTERM if the test process dies without cleaning up (Linux), so a killed test
    run leaves no server or worker behind; :meth:`stop` is the normal way out.
    """

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], cwd: Path, log_path: Path):
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            args = self.args
            if sys.platform.startswith("linux"):
                args = [sys.executable, "-c", _PDEATHSIG_EXEC, str(os.getpid()), *args]
            self.proc = subprocess.Popen(
                args,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches its children
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group (and strays), wait, then SIGKILL whatever is left."""
        if self.proc is None:
            return
        pid = self.proc.pid
        strays = _descendants(pid)
        if self.proc.poll() is None or strays:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            _signal(strays, signal.SIGTERM)  # children that started their own session
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            strays = [p for p in strays + _descendants(pid) if Path(f"/proc/{p}").exists()]
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _signal(strays, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL not delivered
            pass


def prefect_command(*args: str) -> list[str]:
    """``prefect <args>`` with this interpreter (the test's virtualenv)."""
    return [sys.executable, "-m", "prefect", *args]


class PrefectServer(ManagedProcess):
    """``prefect server start`` on a free loopback port with its own home and SQLite database."""

    def __init__(self, workdir: Path, *, port: int | None = None, scheduler: bool = False):
        self.port = port or free_port()
        self.home = workdir / "prefect-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.api_url = f"http://{LOOPBACK}:{self.port}/api"
        env = clean_environ(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{workdir / 'prefect.db'}",
                "PREFECT_API_URL": self.api_url,
                # No cron-created runs: every run in a test is one the test created.
                "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true" if scheduler else "false",
                "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            }
        )
        args = prefect_command(
            "server", "start", "--host", LOOPBACK, "--port", str(self.port), "--analytics-off", "--no-ui"
        )
        super().__init__("prefect-server", args, env=env, cwd=workdir, log_path=workdir / "prefect-server.log")

    def client_env(self, extra: Mapping[str, str] | None = None, *, home: Path | None = None) -> dict[str, str]:
        """Environment for a CLI call or a worker talking to this server."""
        env = clean_environ({"PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(home or self.home)})
        env.update(extra or {})
        return env

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if not self.alive:
                raise RuntimeError(f"prefect server exited during start:\n{self.log_tail()}")
            time.sleep(0.5)
        raise TimeoutError(f"prefect server not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def cli(self, *args: str, cwd: Path = ROOT, timeout: float = 120.0, env: Mapping[str, str] | None = None) -> str:
        """Run ``prefect <args>`` against this server; raise with its output when it fails."""
        result = subprocess.run(
            prefect_command(*args),
            env=self.client_env(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`prefect {' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout


class PrefectWorker(ManagedProcess):
    """``prefect worker start --type process`` polling ``pool`` every second."""

    def __init__(self, server: PrefectServer, pool: str, workdir: Path, env: Mapping[str, str]):
        home = workdir / "worker-home"
        home.mkdir(parents=True, exist_ok=True)
        worker_env = server.client_env(
            {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO", **env}, home=home
        )
        args = prefect_command("worker", "start", "--pool", pool, "--type", "process", "--name", f"{pool}-test")
        super().__init__("prefect-worker", args, env=worker_env, cwd=workdir, log_path=workdir / "prefect-worker.log")


# --- the REST calls the tests make ---------------------------------------------------------

TERMINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def read_flow_run(api_url: str, flow_run_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=10)
    resp.raise_for_status()
    return resp.json()


def wait_for_final_state(
    api_url: str, flow_run_id: str, *, timeout: float = 120.0, watch: Iterable[ManagedProcess] = ()
) -> dict[str, Any]:
    """Poll the flow run until its state is terminal; fail early if a watched process died."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = read_flow_run(api_url, flow_run_id)
        if run["state"] and run["state"]["type"] in TERMINAL_STATES:
            return run
        for proc in watch:
            if not proc.alive:
                raise RuntimeError(f"{proc.name} exited while waiting for flow run {flow_run_id}:\n{proc.log_tail()}")
        time.sleep(0.5)
    logs = "\n\n".join(f"--- {p.name}\n{p.log_tail()}" for p in watch)
    state = run.get("state") or {}
    raise TimeoutError(f"flow run {flow_run_id} still {state.get('type')} after {timeout:.0f} s\n{logs}")


def retry_like_the_ui(api_url: str, flow_run_id: str) -> dict[str, Any]:
    """What the Prefect UI's "Retry" button sends (V2 UI, the default in Prefect 3.9).

    ``POST /api/flow_runs/{id}/set_state`` with ``{"state": {"type": "SCHEDULED", "name":
    "AwaitingRetry", "message": "Retry from the UI"}, "force": true}`` (prefect's ui-v2
    ``RetryFlowRunDialog``; the V1 UI's ``retryFlowRun`` sends the same state with
    ``force: false``). The run keeps its id and parameters; a worker picks it up again.
    """
    body = {
        "state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"},
        "force": True,
    }
    resp = httpx.post(f"{api_url}/flow_runs/{flow_run_id}/set_state", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json()

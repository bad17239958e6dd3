"""The CLI's temporary Prefect server dies with the CLI, even when the CLI is killed with SIGKILL.

Without ``PREFECT_API_URL`` Prefect 3 starts a temporary API server as a child process
(``prefect.server.api.server.SubprocessASGIServer``) and stops it at exit (``atexit``). A
``kill -9`` skips ``atexit``, so the server stayed behind. Here the server is started before
the flow, from the main thread, with ``PR_SET_PDEATHSIG`` set in the child between fork and
exec: the kernel sends it SIGTERM when its parent dies. (The signal follows the death of the
*thread* that forked the child, hence the main thread.) Prefect finds the started server
because ``SubprocessASGIServer`` keeps one instance per port and the same instance is reused.
Linux only; elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import types
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _set_parent_death_signal(parent_pid: int) -> None:
    """Runs in the child before exec: SIGTERM when the parent dies (or already died)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class _SubprocessWithPreexec(types.ModuleType):
    """``subprocess`` as the Prefect server module sees it while it starts the server."""

    def __init__(self, preexec: Any):
        super().__init__("subprocess")
        self._preexec = preexec

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def Popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen:  # noqa: N802 - subprocess's name
        kwargs.setdefault("preexec_fn", self._preexec)
        return subprocess.Popen(*args, **kwargs)


def _server_class() -> type:
    from prefect.server.api import server as server_module

    class ServerThatDiesWithItsParent(server_module.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen:
            parent = os.getpid()
            saved = server_module.subprocess
            server_module.subprocess = _SubprocessWithPreexec(lambda: _set_parent_death_signal(parent))
            try:
                return super()._run_uvicorn_command()
            finally:
                server_module.subprocess = saved

    return ServerThatDiesWithItsParent


def die_with_this_process() -> None:
    """Start Prefect's temporary server now, bound to this process's life (Linux, no PREFECT_API_URL).

    A no-op when an API URL is configured (a real server), off Linux, outside the main
    thread, or when the temporary server exists already.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if sys.platform != "linux" or PREFECT_API_URL.value() or threading.current_thread() is not threading.main_thread():
        return
    if None in SubprocessASGIServer._instances:
        return
    # The one instance for "no port": every later SubprocessASGIServer() in Prefect returns it.
    _server_class()().start()

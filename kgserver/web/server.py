"""Run the app under gunicorn, the production server, from the kgserver command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from kgserver.config import ServerSettings, Settings
from kgserver.web.app import create_app

# gunicorn's longest request line; a longer GET query must be sent by POST.
_MAX_REQUEST_LINE = 8190


class KgServerApplication(BaseApplication):
    """A gunicorn application configured in code; each worker builds its own app and query workers."""

    def __init__(self, settings: Settings, store_path: Path, limits: ServerSettings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._store_path = store_path
        self._limits = limits
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self._settings, self._store_path, self._limits)


def serve(
    settings: Settings, store_path: Path, limits: ServerSettings, host: str, port: int, workers: int, threads: int
) -> None:
    """Serve until stopped with gunicorn's threaded worker; queries run in each worker's query processes."""
    _log_queries_to_stderr()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "errorlog": "-",
        "preload_app": False,
        "control_socket_disable": True,
        "timeout": 60,
        "limit_request_line": _MAX_REQUEST_LINE,
    }
    KgServerApplication(settings, store_path, limits, options).run()


def _log_queries_to_stderr() -> None:
    """Send the endpoint's one-line-per-query log (logger kgserver.sparql) to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(name)s %(message)s"))
    logger = logging.getLogger("kgserver")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

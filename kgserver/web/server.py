"""Run the app under gunicorn, the production server, from the kgserver command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from kgserver.config import Settings
from kgserver.web.app import create_app


class KgServerApplication(BaseApplication):
    """A gunicorn application configured in code; each worker builds its own app and store handle."""

    def __init__(self, settings: Settings, store_path: Path, options: dict[str, Any]) -> None:
        self._settings = settings
        self._store_path = store_path
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self._settings, self._store_path)


def serve(settings: Settings, store_path: Path, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until stopped; threads > 1 selects gunicorn's threaded worker."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "accesslog": "-",
        "errorlog": "-",
        "preload_app": False,
        "control_socket_disable": True,
        "timeout": 60,
    }
    KgServerApplication(settings, store_path, options).run()

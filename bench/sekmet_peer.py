"""A sekmet-fhir server process for benchmarks: loopback only, quiet, on a free port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SekmetPeer:
    """`with SekmetPeer(folder, db_path=...) as peer: peer.base_url` - stopped on exit."""

    def __init__(self, folder: Path, name: str, **settings: Any) -> None:
        self.folder = folder
        self.name = name
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "base_url": self.base_url,
            "db_path": ":memory:",
            "data_dir": str(folder / "data"),
            "own_private_key_path": str(folder / "keys" / "none.pem"),
            "simulator": {"enabled": False, "delay_seconds": 0.05},
            "log_inbound": False,
            **settings,
        }
        self.config_path = folder / f"{name}.yaml"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.log_path = folder / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def __enter__(self) -> SekmetPeer:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "sekmet.cli", "serve", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if httpx.get(f"{self.base_url}/metadata", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"sekmet {self.name} did not start; see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

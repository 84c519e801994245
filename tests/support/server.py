"""A real Consentry server for tests: uvicorn over TLS on loopback, in a thread of the test process,
with the runtime (and its clock) reachable from the test for setup and time travel.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from tests.support.egress import free_port

from consentry import runtime as runtime_module
from consentry.config import Settings
from consentry.domain.clock import ManualClock
from consentry.runtime import Runtime
from consentry.services.demo import DemoSummary, seed_demo
from consentry.tls import ensure_local_tls
from consentry.web.app import create_app


@dataclass
class RunningServer:
    base_url: str
    ca_path: Path
    runtime: Runtime
    clock: ManualClock
    demo: DemoSummary
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def ctx(self):  # type: ignore[no-untyped-def]
        return self.runtime.ctx

    def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, verify=self.ssl_context(), **kwargs)  # type: ignore[arg-type]

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.runtime.close()


def start_server(data_dir: Path, db_url: str | None = None, **settings: object) -> RunningServer:
    port = free_port()
    config = Settings(data_dir=data_dir, db=db_url, port=port, host="127.0.0.1", **settings)  # type: ignore[arg-type]
    runtime_module.configure_logging(config.model_copy(update={"log_level": "warning"}))
    clock = ManualClock()
    rt = runtime_module.build(config, clock=clock)
    runtime_module.prepare(rt)
    demo = seed_demo(rt.ctx)
    tls = ensure_local_tls(data_dir)
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning",
                                           ssl_certfile=str(tls.cert_path), ssl_keyfile=str(tls.key_path),
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return RunningServer(config.base_url, tls.ca_path, rt, clock, demo, server, thread)

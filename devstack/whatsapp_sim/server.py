"""The simulator's HTTP server (Graph API stand-in and ``/sim/`` control on one port), run on its own asyncio
loop thread: ``SimServer(port=0).start()`` in tests, ``python -m devstack.whatsapp_sim`` for the local stack."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

from aiohttp import web

from devstack.whatsapp_sim import control_api, graph_api
from devstack.whatsapp_sim.app_keys import SIM
from devstack.whatsapp_sim.simulator import SimConfig, WhatsAppSimulator


def make_app(sim: WhatsAppSimulator) -> web.Application:
    app = web.Application(middlewares=[graph_api.graph_errors_middleware, control_api.sim_errors_middleware])
    app[SIM] = sim
    app.add_routes(control_api.routes() + graph_api.routes())
    return app


class SimServer:
    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimConfig()
        self.host = host
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.sim: WhatsAppSimulator | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="whatsapp-sim", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout)
        return self

    async def _serve(self) -> None:
        self.sim = WhatsAppSimulator(self.config)
        self._runner = web.AppRunner(make_app(self.sim), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop (from another thread) and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.run(self._shutdown(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    async def _shutdown(self) -> None:
        if self.sim is not None:
            await self.sim.close()
        if self._runner is not None:
            await self._runner.cleanup()

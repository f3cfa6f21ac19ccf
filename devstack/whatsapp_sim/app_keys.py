"""The aiohttp application's shared objects."""
from __future__ import annotations

from aiohttp import web

from devstack.whatsapp_sim.simulator import WhatsAppSimulator

SIM = web.AppKey("whatsapp_sim", WhatsAppSimulator)

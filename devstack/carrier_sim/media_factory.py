"""The carrier simulator's ``media_factory``: who speaks on each answered call's media stream (a scripted caller,
or an answering machine when the rules have a machine answer)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devstack.carrier_sim.answering_machine import AnsweringMachine
from devstack.carrier_sim.caller_voice import ScriptedCaller, caller_voice
from devstack.carrier_sim.calls import SimCall
from devstack.carrier_sim.media import MediaSession
from devstack.carrier_sim.scripts import DEFAULT_SCRIPT, parse_script


def scripted_media_factory(recordings_dir: str | Path | None = None, engine: str = "piper"
                           ) -> Callable[[SimCall], MediaSession]:
    """A carrier-sim ``media_factory``: every call with ``<Connect><Stream>`` gets a
    :class:`ScriptedCaller` playing its script (from the rules) or :data:`DEFAULT_SCRIPT`; calls the
    rules have answered by a machine get an :class:`~devstack.carrier_sim.answering_machine.AnsweringMachine`."""
    import devstack.media_client  # noqa: F401 - load aiohttp and numpy now, not on the first answered call

    def factory(call: SimCall) -> MediaSession:
        if call.answerer == "machine":
            return AnsweringMachine(call.machine, recordings_dir=recordings_dir, voice=caller_voice(engine))
        script = parse_script(call.script) if call.script is not None else DEFAULT_SCRIPT
        return ScriptedCaller(script, recordings_dir=recordings_dir, voice=caller_voice(engine))

    return factory

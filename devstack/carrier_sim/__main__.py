"""``python -m devstack.carrier_sim``: run the Twilio stand-in as its own process (what ``make dev`` starts).

The launcher chooses each answered call's media: :func:`~devstack.carrier_sim.media.no_media` (the
line is held for the talk time), or with ``--voice`` the scripted caller of
:mod:`devstack.carrier_sim.caller_voice`. It prints one JSON line (the simulator's URL and rules) once
serving, and runs until SIGINT or SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Iterable

from devstack.carrier_sim.calls import MediaFactory
from devstack.carrier_sim.media import no_media
from devstack.carrier_sim.rules import OutcomeProbabilities, RulesError, SimRules
from devstack.carrier_sim.simulator import CarrierSimulator


def _talk_time_arg(value: str) -> float | tuple[float, float]:
    """``1.5`` or ``1,3`` (a range) from the command line."""
    if "," in value:
        low, high = value.split(",", 1)
        return float(low), float(high)
    return float(value)


def _account_arg(value: str) -> tuple[str, str]:
    sid, sep, token = value.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError("use ACCOUNT_SID:AUTH_TOKEN")
    return sid, token


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack.carrier_sim",
                                     description="Run the carrier simulator (a Twilio stand-in).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--answer-delay", type=float, default=0.5)
    parser.add_argument("--talk-time", type=_talk_time_arg, default=1.0, help="seconds, or MIN,MAX")
    parser.add_argument("--busy", type=float, default=0.0, help="probability a call is busy")
    parser.add_argument("--no-answer", type=float, default=0.0, help="probability a call is not answered")
    parser.add_argument("--failed", type=float, default=0.0, help="probability a call fails")
    parser.add_argument("--no-number-rules", action="store_true",
                        help="turn off the To-ends-in-0/9/8/7 busy/no-answer/failed/answering-machine rules")
    parser.add_argument("--account", type=_account_arg, action="append", default=None,
                        metavar="SID:TOKEN", help="accept only these credentials (repeatable)")
    parser.add_argument("--voice", action="store_true",
                        help="answer <Connect><Stream> calls with a scripted caller speaking on the Media Stream "
                             "(Piper voice; scripts set with PUT /sim/rules)")
    parser.add_argument("--voice-engine", choices=("piper", "tone"), default="piper",
                        help="how the scripted caller's sentences are synthesized (tone: a speech-like buzz)")
    parser.add_argument("--recordings-dir", default=None,
                        help="with --voice: save each call's audio (<CallSid>.wav, <CallSid>-stereo.wav) here")
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        rules = SimRules(outcomes=OutcomeProbabilities(args.busy, args.no_answer, args.failed),
                         answer_delay=args.answer_delay, talk_time=args.talk_time,
                         number_rules=not args.no_number_rules, seed=args.seed)
        media_factory: MediaFactory = no_media
        if args.voice:  # imported only here: the voiced callee loads aiohttp and numpy
            from devstack.carrier_sim.media_factory import scripted_media_factory

            media_factory = scripted_media_factory(args.recordings_dir, engine=args.voice_engine)
        sim = CarrierSimulator(rules, host=args.host, port=args.port,
                               accounts=dict(args.account) if args.account else None, media_factory=media_factory)
    except RulesError as exc:
        print(f"invalid rules: {exc}")
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    print(json.dumps({"carrier_sim": sim.url, "voice": bool(args.voice), "rules": sim.rules.to_json()}), flush=True)
    try:
        stop.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

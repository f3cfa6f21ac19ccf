"""A carrier simulator: a Twilio stand-in that speaks Twilio's Voice REST API and sends real, signed
status callbacks, so Parley places and follows calls exactly as it would with Twilio.

It serves on 127.0.0.1 (any free port by default) Twilio's ``Calls.json`` API (create, fetch, hang
up / cancel) and ``/sim/...`` inspection and control routes; see :mod:`devstack.carrier_sim.server`.
Outcomes follow rules (:mod:`devstack.carrier_sim.rules`): To numbers ending in 0 are busy, 9
unanswered, 8 failed, and 7 are answered by an answering machine (greeting, beep, then it records the
message; :mod:`devstack.carrier_sim.answering_machine`); probabilities per From number; answer delay
and talk time; and the order of a streamed call's final status callback and its stream's ``stop``. An answered call's
``<Connect><Stream>`` is handed to a media session (:mod:`devstack.carrier_sim.media`): by default
the line is held for the talk time, or with ``--voice`` a scripted caller speaks on the Media Stream
(:mod:`devstack.carrier_sim.caller_voice`, scripts in :mod:`devstack.carrier_sim.scripts`). Every
callback carries Twilio's parameters and an ``X-Twilio-Signature`` computed with the auth token the
call was created with (:mod:`devstack.carrier_sim.callbacks`). Calls placed with Twilio's async
answering machine detection (``MachineDetection`` = ``Enable`` or ``DetectMessageEnd`` with
``AsyncAmd=true``) get their ``AnsweredBy`` POSTed to ``AsyncAmdStatusCallback``, signed the same way;
synchronous AMD is refused with a 400 (see :mod:`devstack.carrier_sim.simulator`).

The modules, by job:

* :mod:`~devstack.carrier_sim.simulator`: :class:`CarrierSimulator`, a call's life and its callbacks;
* :mod:`~devstack.carrier_sim.server` and :mod:`~devstack.carrier_sim.rest`: the HTTP front end, Twilio's
  errors, Basic auth and create-call validation;
* :mod:`~devstack.carrier_sim.calls`, :mod:`~devstack.carrier_sim.twiml`: call records and TwiML;
* :mod:`~devstack.carrier_sim.callbacks`, :mod:`~devstack.carrier_sim.scheduling`: webhooks, the
  scheduler thread and per-call delivery lanes;
* :mod:`~devstack.carrier_sim.rules`, :mod:`~devstack.carrier_sim.scripts`: rules and caller scripts;
* :mod:`~devstack.carrier_sim.media`, :mod:`~devstack.carrier_sim.caller_voice`,
  :mod:`~devstack.carrier_sim.answering_machine`: what answered calls do;
* ``python -m devstack.carrier_sim`` (:mod:`~devstack.carrier_sim.__main__`): the process launcher.
"""
from devstack.carrier_sim.calls import MediaFactory, SimCall
from devstack.carrier_sim.media import MediaContext, MediaSession, NoMedia, no_media
from devstack.carrier_sim.rest import TwilioError
from devstack.carrier_sim.rules import OutcomeProbabilities, RulesError, SimRules
from devstack.carrier_sim.simulator import CarrierSimulator
from devstack.carrier_sim.twiml import StreamHook

__all__ = [
    "CarrierSimulator", "MediaContext", "MediaFactory", "MediaSession", "NoMedia", "OutcomeProbabilities",
    "RulesError", "SimCall", "SimRules", "StreamHook", "TwilioError", "no_media",
]

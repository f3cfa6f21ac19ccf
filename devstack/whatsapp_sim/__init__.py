"""The WhatsApp Cloud API simulator: a stand-in for Meta's Business Calling API on the local stack.

It plays "Meta" in ``docs/whatsapp-calls.md``: the Graph API's ``/{phone_number_id}/calls``,
``/call_permissions`` and ``/messages`` (:mod:`.graph_api`), the signed ``calls`` webhooks with retries
(:mod:`.webhooks`, :mod:`.payloads`), and the WhatsApp user, an aiortc peer that speaks a caller script and
records the agent (:mod:`.user_peer`, :mod:`.script`, :mod:`.agent_audio`). Tests and the local stack drive it
through ``/sim/whatsapp/*`` (:mod:`.control_api`). ``python -m devstack.whatsapp_sim --port N`` runs it.
"""

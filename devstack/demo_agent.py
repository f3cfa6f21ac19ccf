"""The local stack's demo agent: ready to talk to in the browser the moment ``make dev`` is up."""
from __future__ import annotations

from urllib.parse import urlencode

from chalicelib.domain.agents import create_agent
from chalicelib.schemas.agents import AgentCreate

WELCOME = "Hello, this is the Parley demo bakery. How can I help you today?"
ROLE = ("You answer questions for Parley Bakery, in one or two short sentences. The bakery opens at seven in "
        "the morning and closes at six in the evening, every day but Sunday. A loaf of sourdough costs five "
        "dollars; croissants cost two dollars each. Orders can be picked up from eight in the morning.")


def create_demo_agent(account_id: int, api_origin: str) -> str:
    """Create the demo agent with its web widget enabled for the API's own origin; the demo page's URL for it."""
    agent = create_agent(account_id, AgentCreate.model_validate({
        "name": "Demo bakery (web)", "welcome_message": WELCOME,
        "context_breakdown": [{"title": "Role", "body": ROLE}],
        "web_widget": {"enabled": True, "allowed_origins": [api_origin]},
    }))
    assert agent.web_widget is not None and agent.web_widget.public_key
    query = urlencode({"agent_id": agent.id, "public_key": agent.web_widget.public_key})
    return f"{api_origin}/web-demo?{query}"

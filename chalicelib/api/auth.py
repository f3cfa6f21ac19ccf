"""API-key authentication with Chalice's built-in authorizer (runs the same locally and on API Gateway)."""
from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Blueprint
from chalice.app import AuthRequest, AuthRoute

from chalicelib.domain.accounts import key_owner
from chalicelib.observability import logger

auth_bp = Blueprint(__name__)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class MeteredAuthResponse(AuthResponse):
    """An allow policy that also names the account's API Gateway key (``usageIdentifierKey``).

    The REST API takes API keys from the authorizer (``apiKeySource: AUTHORIZER``, see ``parley_infra.api``),
    so the stage's usage plan throttles each account by this key. Without one (the local stack) the response
    is Chalice's own.
    """

    def __init__(self, routes: list[str | AuthRoute], principal_id: str, usage_key: str | None = None) -> None:
        super().__init__(routes=routes, principal_id=principal_id)
        self.usage_key = usage_key

    def to_dict(self, request: AuthRequest) -> dict[str, Any]:
        response = super().to_dict(request)
        if self.usage_key:
            response["usageIdentifierKey"] = self.usage_key
        return response


@auth_bp.authorizer(ttl_seconds=60)
def api_key_auth(auth_request: AuthRequest) -> AuthResponse:
    """Map ``Authorization: Bearer <key>`` to its account; API Gateway answers 401 otherwise."""
    token = bearer_token(auth_request.token)
    owner = key_owner(token) if token else None
    if owner is None:
        logger.info("rejected api key", extra={"had_bearer_token": token is not None})
        # API Gateway turns exactly this message into a 401 (see the GatewayResponses in infra/).
        raise Exception("Unauthorized")
    return MeteredAuthResponse(routes=["*"], principal_id=str(owner.account_id), usage_key=owner.usage_key)

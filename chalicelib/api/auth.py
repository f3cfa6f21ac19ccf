"""API-key authentication with Chalice's built-in authorizer (runs the same locally and on API Gateway)."""
from __future__ import annotations

from chalice import AuthResponse, Blueprint
from chalice.app import AuthRequest

from chalicelib.domain.accounts import account_for_key
from chalicelib.observability import logger

auth_bp = Blueprint(__name__)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@auth_bp.authorizer(ttl_seconds=60)
def api_key_auth(auth_request: AuthRequest) -> AuthResponse:
    """Map ``Authorization: Bearer <key>`` to its account; API Gateway answers 401 otherwise."""
    token = bearer_token(auth_request.token)
    account_id = account_for_key(token) if token else None
    if account_id is None:
        logger.info("rejected api key", extra={"had_bearer_token": token is not None})
        # API Gateway turns exactly this message into a 401 (see the GatewayResponses in infra/).
        raise Exception("Unauthorized")
    return AuthResponse(routes=["*"], principal_id=str(account_id))

"""/web_search/credentials: the account's API keys for web search providers (Tavily, Exa). Write-only keys."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import search_credentials
from chalicelib.schemas.web_search import SearchKeyList, SearchKeyPut, SearchKeyQuery, SearchKeyStatus

bp = Blueprint(__name__)
TAG = "Web search"
PATH = "/web_search/credentials"


@api_route(bp, PATH, "GET", RouteSpec(
    "Which web search providers have an API key stored (the keys themselves are never returned)", TAG,
    responses={200: SearchKeyList}))
def list_keys(req: ApiRequest) -> SearchKeyList:
    return SearchKeyList.model_validate({"credentials": search_credentials.list_keys(req.account_id)})


@api_route(bp, PATH, "PUT", RouteSpec(
    "Store or replace the API key agents use for a web search provider (Tavily, Exa); sealed at rest", TAG,
    body=SearchKeyPut, responses={200: SearchKeyStatus}))
def put_key(req: ApiRequest) -> SearchKeyStatus:
    body: SearchKeyPut = req.body
    return SearchKeyStatus.model_validate(search_credentials.put_key(req.account_id, body.provider, body.api_key))


@api_route(bp, PATH, "DELETE", RouteSpec(
    "Remove the API key of a web search provider (agents naming it then cannot search)", TAG,
    query=SearchKeyQuery, responses={200: SearchKeyStatus}))
def delete_key(req: ApiRequest) -> SearchKeyStatus:
    query: SearchKeyQuery = req.query
    return SearchKeyStatus.model_validate(search_credentials.delete_key(req.account_id, query.provider))

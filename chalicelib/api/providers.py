"""/providers: the STT, LLM and TTS engines and voices this deployment offers."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import providers
from chalicelib.domain.errors import NotFound
from chalicelib.schemas.providers import (
    AllProviders,
    LlmList,
    SttList,
    TtsList,
    VoiceList,
    VoiceOut,
    VoicesQuery,
)

bp = Blueprint(__name__)
TAG = "Providers"


@api_route(bp, "/providers/stt", "GET", RouteSpec("Speech-to-text engines", TAG, responses={200: SttList}))
def list_stt(req: ApiRequest) -> SttList:
    return SttList(stt=list(providers.STT), total=len(providers.STT))


@api_route(bp, "/providers/llms", "GET", RouteSpec("Language models", TAG, responses={200: LlmList}))
def list_llms(req: ApiRequest) -> LlmList:
    return LlmList(llms=list(providers.LLM), total=len(providers.LLM))


@api_route(bp, "/providers/tts", "GET", RouteSpec("Text-to-speech engines", TAG, responses={200: TtsList}))
def list_tts(req: ApiRequest) -> TtsList:
    return TtsList(tts=list(providers.TTS), total=len(providers.TTS))


@api_route(bp, "/providers/all", "GET", RouteSpec("Every engine and voice", TAG, responses={200: AllProviders}))
def list_all(req: ApiRequest) -> AllProviders:
    services = providers.services()
    return AllProviders(services=services, voices=list(providers.VOICES),
                        total_services=len(services), total_voices=len(providers.VOICES))


@api_route(bp, "/providers/voices", "GET",
           RouteSpec("Voices, filtered and paged", TAG, query=VoicesQuery, responses={200: VoiceList}))
def list_voices(req: ApiRequest) -> VoiceList:
    q: VoicesQuery = req.query
    filters = {k: v for k, v in q.model_dump(exclude={"page", "page_size"}).items() if v is not None}
    matches = [v for v in providers.VOICES
               if (not q.provider or v["provider"] == q.provider)
               and (not q.gender or v["gender"] == q.gender)
               and (not q.language or v["language"].lower().startswith(q.language.lower()))
               and (not q.accent or v["accent"] == q.accent.lower())
               and (not q.search or q.search.lower() in f"{v['name']} {v['voice_id']}".lower())]
    start = (q.page - 1) * q.page_size
    return VoiceList(voices=matches[start:start + q.page_size], total=len(matches), page=q.page,
                     page_size=q.page_size, filters_applied=filters)


@api_route(bp, "/providers/voice/{voice_id}", "GET", RouteSpec("One voice", TAG, responses={200: VoiceOut}))
def get_voice(req: ApiRequest, voice_id: int) -> VoiceOut:
    for voice in providers.VOICES:
        if voice["id"] == voice_id:
            return VoiceOut(**voice)
    raise NotFound(f"voice {voice_id} not found", field="voice_id")

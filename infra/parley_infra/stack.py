"""The Parley stack: keys, tables, queues, the Chalice app and the roles that tie them together.

Every function Chalice generates has its own role, granted what its code uses:

==================  ====================  ===========  =========================  ============  ======  ======
function            tables                secrets key  queues: send               consume       bus     email
==================  ====================  ===========  =========================  ============  ======  ======
APIHandler          read/write (*)        seal, open   dialer, campaign-ops,      -             put     send
                                                       deliveries
ApiKeyAuth          GetItem keys          -            -                          -             -       -
DialerWorker        read/write            open         dialer, campaign-ops       dialer        put     -
CampaignOpsWorker   read/write            -            dialer, campaign-ops       campaign-ops  -       -
CampaignScheduler   read/write            -            dialer, campaign-ops       -             -       -
CallEventsWorker    read actions,         -            deliveries                 call-events   -       -
                    read/write deliveries
DeliveryWorker      read/update actions,  open         deliveries DLQ             deliveries    -       send
                    read/write deliveries,
                    update rate counters
WebsocketConnect    GetItem keys,         -            -                          -             -       -
                    PutItem connections
WebsocketMessage    read/update/delete    -            -                          -             -       -
                    connections, read
                    calls and campaigns
WebsocketDisconnect DeleteItem            -            -                          -             -       -
                    connections
StatusProbe         write status beats,   -            -                          -             -       -
                    GetItem sequences
==================  ====================  ===========  =========================  ============  ======  ======

(*) every table but the API keys': keys are issued by the CLI (``cli.accounts``) and read by the authorizer;
the status beats are written by the status probe only (the API handler reads them, the workers never).

The status probe (``parley_infra.status``, every minute) also reads the depths of the dialer, call-events and
deliveries queues and their DLQs, its own API key's secret and the streaming target group's health.

The MCP server (``parley_infra.mcp``, ``ANY /api/v1/mcp``; not a Chalice function) runs the REST API's agent, call,
bulk call and number operations as MCP tools: ``McpHandler`` reads/writes the tables, sends to the campaign queues,
opens (never seals) carrier credentials, reads the stream-token secret, puts ``call.completed`` and posts to
monitoring connections, as the dialer does to place calls; and, as the authorizer, it ``GetItem``s API keys (it
checks the bearer key itself).

The API handler and the dialer place calls (Twilio credentials are sealed with the secrets key; the
TwiML carries a stream token); the API handler also checks Twilio's signed status callbacks. Both put
``call.completed`` for calls that end without media; the call-events queue is fed by a rule on the bus
(``parley_infra.delivery``), never by a role. "email" is SES as ``sesSender`` only, and only when that
setting is given. The stream-token secret is read by the API handler and the dialer.
The API handler also seals accounts' web search API keys with the search-keys key (``/web_search/credentials``);
the streaming task opens them for calls with that key only (``parley_infra.streaming``).

Live monitoring (``parley_infra.monitoring``): the three ``Websocket*`` functions are the monitoring WebSocket
API's handlers. ``$connect`` authenticates (API key, monitor token or a streaming task's token: it reads API
keys and the stream-token secret) and stores the connection. The publishers, the API handler, the dialer,
campaign operations, the scheduler and the ``$default`` handler (and the streaming task), get the API's URLs
(``PARLEY_MONITOR_URL``, ``PARLEY_MONITOR_MANAGEMENT_URL``) and ``execute-api:ManageConnections`` on posts to
this API's connections only. The dashboard (``parley_infra.dashboard``) is served by CloudFront.

The streaming service (``parley_infra.streaming``) has its own task role; the Lambdas learn its URL
(``PARLEY_STREAMING_URL``) from its load balancer unless ``streamingUrl`` overrides it.

Web calls (``parley_infra.web_media``): the API handler gets the streaming service's ``/web/offer`` URL
(``PARLEY_WEB_OFFER_URL``) and, like the streaming task, the TURN relay configuration: the KVS signaling
channel's ARN with ``kinesisvideo:GetSignalingChannelEndpoint`` and ``GetIceServerConfig`` on that channel
only (``kvs-turn``), or the fixed ICE servers (``ice-servers``).

WhatsApp calls (``parley_infra.whatsapp_media``): the API handler and the dialer get the streaming service's
``/whatsapp`` base (``PARLEY_WHATSAPP_MEDIA_URL``); campaign operations (an unanswered call's expiry) and the
task (any other end) open a number's access token to hang a call up on the Graph API.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack, Tags
from constructs import Construct

from chalicelib.queues import ALL_QUEUES, CALL_EVENTS, CAMPAIGN_OPS, DELIVERIES, DIALER
from parley_infra.api import (
    REST_API,
    FunctionSetup,
    chalice_stage_config,
    configure_functions,
    configure_rest_api,
    include_chalice_app,
    invoke_functions_by_name,
    meter_accounts,
    packaged_template,
    stage_url,
)
from parley_infra.dashboard import Dashboard
from parley_infra.delivery import (
    CALL_EVENTS_WORKER_TIMEOUT_S,
    DELIVERY_WORKER_TIMEOUT_S,
    CallEventRouting,
    allow_email_deliveries,
    delivery_environment,
)
from parley_infra.event_sources import connect_queue_consumers
from parley_infra.keys import create_keys
from parley_infra.mcp import MCP_PATH, McpServerFunction
from parley_infra.monitoring import WEBSOCKET_CONNECT, WEBSOCKET_DISCONNECT, WEBSOCKET_MESSAGE, MonitoringApi
from parley_infra.permissions import (
    TABLE_DELETE,
    TABLE_GET_ITEM,
    TABLE_PUT,
    TABLE_READ,
    TABLE_READ_UPDATE,
    TABLE_READ_WRITE,
    allow_dead_letter_sends,
    allow_event_puts,
    allow_logging,
    allow_queue_consumption,
    allow_queue_sends,
    allow_secret_read,
    allow_secret_sealing,
    allow_tables,
    lambda_role,
)
from parley_infra.queues import ParleyQueues
from parley_infra.settings import SERVICE_NAME, StageSettings
from parley_infra.status import PROBE_TIMEOUT_S, STATUS_PROBE, create_key_secret, grant_probe, probe_environment
from parley_infra.stream_secret import SECRET_ARN_VARIABLE, create_stream_token_secret
from parley_infra.streaming import StreamingDataAccess, StreamingService
from parley_infra.tables import ParleyTables, load_models
from parley_infra.web_media import WebMedia
from parley_infra.whatsapp_media import WhatsAppMedia

API_HANDLER = "APIHandler"
"""Chalice's logical id for the function serving every REST route."""

AUTHORIZER = "ApiKeyAuth"
"""Chalice's logical id for ``chalicelib.api.auth.api_key_auth``; it reads only the ApiKey table."""

DIALER_WORKER = "DialerWorker"
CAMPAIGN_OPS_WORKER = "CampaignOpsWorker"
CAMPAIGN_SCHEDULER = "CampaignScheduler"
CALL_EVENTS_WORKER = "CallEventsWorker"
DELIVERY_WORKER = "DeliveryWorker"
"""Chalice's logical ids for ``app.py``'s SQS consumers and its every-minute schedule."""

CAMPAIGN_QUEUES = (DIALER, CAMPAIGN_OPS)
"""The queues the campaign machinery (API, dialer, campaign operations, scheduler) sends to."""

MCP_HANDLER = "McpHandler"
"""The MCP server's function (``parley_infra.mcp``), added next to Chalice's."""

MONITOR_PUBLISHERS = (API_HANDLER, DIALER_WORKER, CAMPAIGN_OPS_WORKER, CAMPAIGN_SCHEDULER, WEBSOCKET_MESSAGE)
"""The functions that post to monitoring connections: calls' statuses while no conversation holds them,
campaign progress, supervisor controls to a task's link (API handler), replies to watchers ($default)."""


class ParleyStack(Stack):
    """One stage of Parley (``parley-<stage>``)."""

    def __init__(self, scope: Construct, settings: StageSettings, *, work_dir: Path, **kwargs: Any) -> None:
        super().__init__(
            scope,
            settings.stack_name,
            description=f"Parley voice-agent platform, stage {settings.stage}",
            **kwargs,
        )
        self.settings = settings
        models = load_models(settings.table_prefix)
        from chalicelib.db.models import ApiKey

        self.keys = create_keys(self, settings)
        self.tables = ParleyTables(self, "Tables", models=models, encryption_key=self.keys.data)
        self.queues = ParleyQueues(
            self, "Queues", prefix=settings.queue_prefix, specs=ALL_QUEUES, alarm_topic_arn=settings.alarm_topic_arn
        )
        self.stream_token_secret = create_stream_token_secret(self, settings)
        self.status_key_secret = create_key_secret(self, settings)
        self.streaming = StreamingService(
            self,
            "Streaming",
            settings=settings,
            data=StreamingDataAccess(tables=self.tables, keys=self.keys, stream_token_secret=self.stream_token_secret,
                                     dial_queue_arns=tuple(self.queues.arns([DIALER, CAMPAIGN_OPS]))),
        )
        self.streaming_url = settings.streaming_url or self.streaming.url
        self.web_media = WebMedia(self, "WebMedia", settings=settings, streaming=self.streaming)
        self.whatsapp_media = WhatsAppMedia(self, "WhatsAppMedia", streaming=self.streaming, web_media=self.web_media)
        self.call_event_routing = CallEventRouting(
            self, "CallEventRouting", settings=settings, bus=self.streaming.bus, queues=self.queues
        )

        stage_config = chalice_stage_config(
            settings,
            {"PARLEY_TABLE_PREFIX": settings.table_prefix, "PARLEY_QUEUE_PREFIX": settings.queue_prefix},
        )
        self.api = include_chalice_app(self, stage_config, work_dir)
        self.api_stage: str = stage_config["api_gateway_stage"]
        """The REST API's stage name (the first segment of its URLs' paths)."""
        template = packaged_template(self.api)
        self.monitoring = MonitoringApi(self.api, template, settings)
        monitors = self.monitoring.environment
        self.public_api_url = settings.public_api_url or stage_url(self.api, stage_config["api_gateway_stage"])

        telephony = {
            "PARLEY_TWILIO_API_URL": settings.twilio_api_url,
            "PARLEY_PUBLIC_API_URL": self.public_api_url,
            "PARLEY_STREAMING_URL": self.streaming_url,
        }
        places_calls = {
            **telephony,
            "PARLEY_KMS_KEY_ID": self.keys.secrets.key_arn,
            SECRET_ARN_VARIABLE: self.stream_token_secret.secret_arn,
            "PARLEY_EVENT_BUS_NAME": self.streaming.bus.event_bus_name,
        }
        delivers = delivery_environment(settings.delivery)
        throttling = settings.throttling
        self.roles = {
            API_HANDLER: lambda_role(self, "ApiHandlerRole", "Parley REST API handler"),
            AUTHORIZER: lambda_role(self, "AuthorizerRole", "Parley API key authorizer"),
            DIALER_WORKER: lambda_role(self, "DialerWorkerRole", "Parley dialer (SQS consumer)"),
            CAMPAIGN_OPS_WORKER: lambda_role(self, "CampaignOpsWorkerRole",
                                             "Parley campaign operations (SQS consumer)"),
            CAMPAIGN_SCHEDULER: lambda_role(self, "CampaignSchedulerRole", "Parley campaign scheduler (every minute)"),
            CALL_EVENTS_WORKER: lambda_role(self, "CallEventsWorkerRole", "Parley post-call fan-out (SQS consumer)"),
            DELIVERY_WORKER: lambda_role(self, "DeliveryWorkerRole", "Parley post-call delivery (SQS consumer)"),
            WEBSOCKET_CONNECT: lambda_role(self, "MonitorConnectRole", "Parley monitoring WebSocket $connect"),
            WEBSOCKET_MESSAGE: lambda_role(self, "MonitorMessageRole", "Parley monitoring WebSocket $default"),
            WEBSOCKET_DISCONNECT: lambda_role(self, "MonitorDisconnectRole", "Parley monitoring WebSocket $disconnect"),
            STATUS_PROBE: lambda_role(self, "StatusProbeRole", "Parley service status probe (every minute)"),
            MCP_HANDLER: lambda_role(self, "McpHandlerRole", "Parley MCP server (/api/v1/mcp)"),
        }
        self.setups = {
            API_HANDLER: FunctionSetup(
                settings.resource_name("api-handler"),
                self.roles[API_HANDLER],
                {**places_calls, **delivers, **self.web_media.api_environment, **self.whatsapp_media.api_environment,
                 **monitors,
                 "PARLEY_SEARCH_KMS_KEY_ID": self.keys.search_keys.key_arn},  # seals accounts' web search keys
            ),
            AUTHORIZER: FunctionSetup(settings.resource_name("api-key-auth"), self.roles[AUTHORIZER], {}),
            DIALER_WORKER: FunctionSetup(
                settings.resource_name("dialer-worker"),
                self.roles[DIALER_WORKER],
                {**places_calls, **self.whatsapp_media.api_environment, **monitors},
                consumes=DIALER,
                reserved_concurrency=throttling.dialer_concurrency,
            ),
            CAMPAIGN_OPS_WORKER: FunctionSetup(
                settings.resource_name("campaign-ops-worker"),
                self.roles[CAMPAIGN_OPS_WORKER],
                {**telephony, **monitors, "PARLEY_KMS_KEY_ID": self.keys.secrets.key_arn},  # hangs up unanswered
                consumes=CAMPAIGN_OPS,
                reserved_concurrency=throttling.campaign_ops_concurrency,
            ),
            CAMPAIGN_SCHEDULER: FunctionSetup(
                settings.resource_name("campaign-scheduler"), self.roles[CAMPAIGN_SCHEDULER], {**telephony, **monitors}
            ),
            CALL_EVENTS_WORKER: FunctionSetup(
                settings.resource_name("call-events-worker"),
                self.roles[CALL_EVENTS_WORKER],
                delivers,
                consumes=CALL_EVENTS,
                timeout=CALL_EVENTS_WORKER_TIMEOUT_S,
                reserved_concurrency=throttling.call_events_concurrency,
            ),
            DELIVERY_WORKER: FunctionSetup(
                settings.resource_name("delivery-worker"),
                self.roles[DELIVERY_WORKER],
                {**delivers, "PARLEY_KMS_KEY_ID": self.keys.secrets.key_arn},
                consumes=DELIVERIES,
                timeout=DELIVERY_WORKER_TIMEOUT_S,
                reserved_concurrency=throttling.delivery_concurrency,
            ),
            WEBSOCKET_CONNECT: FunctionSetup(
                settings.resource_name("monitor-connect"),
                self.roles[WEBSOCKET_CONNECT],
                {SECRET_ARN_VARIABLE: self.stream_token_secret.secret_arn},
            ),
            WEBSOCKET_MESSAGE: FunctionSetup(
                settings.resource_name("monitor-message"), self.roles[WEBSOCKET_MESSAGE], monitors
            ),
            WEBSOCKET_DISCONNECT: FunctionSetup(
                settings.resource_name("monitor-disconnect"), self.roles[WEBSOCKET_DISCONNECT], {}
            ),
            STATUS_PROBE: FunctionSetup(
                settings.resource_name("status-probe"),
                self.roles[STATUS_PROBE],
                {"PARLEY_PUBLIC_API_URL": self.public_api_url, "PARLEY_TWILIO_API_URL": settings.twilio_api_url,
                 **probe_environment(self.status_key_secret, self.streaming.target_group.target_group_arn)},
                timeout=PROBE_TIMEOUT_S,
            ),
        }
        self._grant(ApiKey)

        log_groups = configure_functions(self.api, self.setups)
        for logical_id, setup in self.setups.items():
            allow_logging(setup.role, log_groups[logical_id])
        connect_queue_consumers(self.api, template, self.setups, self.queues)
        invoke_functions_by_name(self.api, template, {API_HANDLER: self.setups[API_HANDLER].name})
        self.access_logs = configure_rest_api(self.api, settings)
        self.usage_plan = meter_accounts(self.api, template, settings, authorizer="api_key_auth")
        # The MCP server: its Host check accepts the public API URL's host and the REST API's own.
        execute_api_host = f"{self.api.get_resource(REST_API).ref}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
        self.mcp = McpServerFunction(
            self.api, template, name=settings.resource_name("mcp-handler"), role=self.roles[MCP_HANDLER],
            environment={**places_calls, **self.whatsapp_media.api_environment, **monitors,
                         "PARLEY_MCP_ALLOWED_HOSTS": execute_api_host},
        )

        # The streaming task publishes everything of the calls it holds and keeps a link for supervisor controls.
        for name, value in monitors.items():
            self.streaming.container.add_environment(name, value)
        self.monitoring.allow_posts(self.streaming.task_role)
        self.dashboard = Dashboard(
            self,
            "Dashboard",
            rest_api_id=self.api.get_resource(REST_API).ref,
            rest_api_stage=self.api_stage,
            monitor_host=self.monitoring.host,
            recordings_bucket=self.streaming.recordings.bucket_name,
            access_logs=self.streaming.access_logs,
        )

        CfnOutput(
            self,
            "UsagePlanId",
            value=self.usage_plan.ref,
            description="PARLEY_USAGE_PLAN_ID for python -m cli.accounts (registers each account's throttle key)",
        )
        CfnOutput(self, "PublicApiUrl", value=self.public_api_url, description="PARLEY_PUBLIC_API_URL")
        CfnOutput(self, "McpUrl", value=f"{self.public_api_url}{MCP_PATH}",
                  description="The MCP server (streamable HTTP, Authorization: Bearer <api key>)")
        CfnOutput(
            self,
            "StreamTokenSecretArn",
            value=self.stream_token_secret.secret_arn,
            description="Secret the streaming service checks stream tokens with",
        )
        CfnOutput(
            self,
            "StatusProbeKeySecretArn",
            value=self.status_key_secret.secret_arn,
            description="Put the status probe's API key here (README, Service status)",
        )
        CfnOutput(self, "StreamingUrl", value=self.streaming_url, description="PARLEY_STREAMING_URL (TwiML <Stream>)")
        CfnOutput(
            self,
            "StreamingLoadBalancerDnsName",
            value=self.streaming.load_balancer.load_balancer_dns_name,
            description="Point streamingDomainName's DNS record (CNAME or alias) here",
        )
        CfnOutput(self, "WebOfferUrl", value=self.web_media.offer_url, description="PARLEY_WEB_OFFER_URL (web calls)")
        if self.web_media.channel is not None:
            CfnOutput(
                self,
                "WebTurnChannelArn",
                value=self.web_media.channel.attr_arn,
                description="PARLEY_KVS_TURN_CHANNEL_ARN: the KVS signaling channel used for its TURN service",
            )
        CfnOutput(
            self, "MonitorUrl", value=self.monitoring.url, description="PARLEY_MONITOR_URL: the monitoring WebSocket"
        )
        CfnOutput(self, "DashboardUrl", value=self.dashboard.url, description="The operator dashboard (CloudFront)")
        CfnOutput(self, "RecordingsBucketName", value=self.streaming.recordings.bucket_name)
        CfnOutput(self, "CallEventBusName", value=self.streaming.bus.event_bus_name)
        Tags.of(self).add("project", SERVICE_NAME)
        Tags.of(self).add("stage", settings.stage)

    def _grant(self, api_key_model: type) -> None:
        """Each role's permissions (see the module's table)."""
        from chalicelib.db.models import Delivery, PostCallAction, RateCounter, StatusBeat

        # API keys are issued by the CLI (operator credentials) and read by the authorizer only; status beats
        # are the probe's (the API handler reads them for the public heartbeat).
        app_tables = self.tables.arns(
            [model for model in self.tables.tables if model not in (api_key_model, StatusBeat)])
        for logical_id in (API_HANDLER, DIALER_WORKER, CAMPAIGN_OPS_WORKER, CAMPAIGN_SCHEDULER, MCP_HANDLER):
            role = self.roles[logical_id]
            allow_tables(role, TABLE_READ_WRITE, app_tables, self.keys.data)
            sends = (*CAMPAIGN_QUEUES, DELIVERIES) if logical_id == API_HANDLER else CAMPAIGN_QUEUES  # replays
            allow_queue_sends(role, self.queues.arns(sends))
        for logical_id in (AUTHORIZER, MCP_HANDLER):  # the MCP server checks bearer keys itself
            allow_tables(self.roles[logical_id], TABLE_GET_ITEM, self.tables.arns([api_key_model]), self.keys.data)
        allow_tables(self.roles[API_HANDLER], TABLE_READ, self.tables.arns([StatusBeat]), self.keys.data)
        grant_probe(self.roles[STATUS_PROBE], tables=self.tables, queues=self.queues,
                    key_secret=self.status_key_secret, data_key=self.keys.data)

        allow_secret_sealing(self.roles[API_HANDLER], self.keys.secrets)
        allow_secret_sealing(self.roles[API_HANDLER], self.keys.search_keys)  # /web_search/credentials
        allow_secret_sealing(self.roles[DIALER_WORKER], self.keys.secrets, seal=False)
        # An unanswered WhatsApp call's expiry (and a hang-up the streaming service queued) asks Graph to terminate
        # it with the number's access token.
        allow_secret_sealing(self.roles[CAMPAIGN_OPS_WORKER], self.keys.secrets, seal=False)
        allow_secret_sealing(self.roles[MCP_HANDLER], self.keys.secrets, seal=False)  # dispatch opens credentials
        for logical_id in (API_HANDLER, DIALER_WORKER, MCP_HANDLER):
            allow_secret_read(self.roles[logical_id], self.stream_token_secret)
            allow_event_puts(self.roles[logical_id], self.streaming.bus.event_bus_arn)
        # Web calls: the handler hands the browser its TURN credentials (kvs-turn mode).
        self.web_media.allow_turn_credentials(self.roles[API_HANDLER])

        # Post-call delivery (parley_infra.delivery): fan-out, delivery, and the API's replay and test sends.
        fan_out = self.roles[CALL_EVENTS_WORKER]
        allow_tables(fan_out, TABLE_READ, self.tables.arns([PostCallAction]), self.keys.data)
        allow_tables(fan_out, TABLE_READ_WRITE, self.tables.arns([Delivery]), self.keys.data)
        allow_queue_sends(fan_out, self.queues.arns([DELIVERIES]))
        deliverer = self.roles[DELIVERY_WORKER]
        allow_tables(deliverer, TABLE_READ_WRITE, self.tables.arns([Delivery]), self.keys.data)
        # A 410 Gone from a receiver disables the action.
        allow_tables(deliverer, TABLE_READ_UPDATE, self.tables.arns([PostCallAction]), self.keys.data)
        # Counts each account's emails a day (chalicelib.domain.rate_limits: one conditional UpdateItem).
        allow_tables(deliverer, ("dynamodb:UpdateItem",), self.tables.arns([RateCounter]), self.keys.data)
        allow_secret_sealing(deliverer, self.keys.secrets, seal=False)  # opens channel credentials
        allow_dead_letter_sends(deliverer, self.queues.get(DELIVERIES).dead_letters.queue_arn)
        for logical_id in (DELIVERY_WORKER, API_HANDLER):  # the API sends test events synchronously
            allow_email_deliveries(self.roles[logical_id], self.settings.delivery)

        self._grant_monitoring(api_key_model)

        for setup in self.setups.values():
            if setup.consumes is not None:
                allow_queue_consumption(setup.role, self.queues.get(setup.consumes).queue.queue_arn)

    def _grant_monitoring(self, api_key_model: type) -> None:
        """The monitoring WebSocket handlers' tables and secret, and who may post to connections."""
        from chalicelib.db.models import Call, Campaign, MonitorConnection

        connections = self.tables.arns([MonitorConnection])
        data_key = self.keys.data
        # $connect: authenticate (an API key by digest, or a token signed with the stream-token secret), store.
        connect = self.roles[WEBSOCKET_CONNECT]
        allow_tables(connect, TABLE_GET_ITEM, self.tables.arns([api_key_model]), data_key)
        allow_tables(connect, TABLE_PUT, connections, data_key)
        allow_secret_read(connect, self.stream_token_secret)
        # $default: the connection's subscription, the snapshot (active calls), the tasks' links; a gone
        # connection (410) is deleted.
        message = self.roles[WEBSOCKET_MESSAGE]
        allow_tables(message, (*TABLE_READ_UPDATE, *TABLE_DELETE), connections, data_key)
        allow_tables(message, TABLE_READ, self.tables.arns([Call, Campaign]), data_key)
        allow_tables(self.roles[WEBSOCKET_DISCONNECT], TABLE_DELETE, connections, data_key)
        for logical_id in (*MONITOR_PUBLISHERS, MCP_HANDLER):  # the MCP server's dispatches publish call.status
            self.monitoring.allow_posts(self.roles[logical_id])
        # The streaming task reads its calls' watchers and deletes the connections that are gone.
        allow_tables(self.streaming.task_role, (*TABLE_READ, *TABLE_DELETE), connections, data_key)

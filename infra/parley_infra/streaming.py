"""The streaming service: the real-time voice pipeline on ECS Fargate behind an internet-facing ALB.

Carriers open a WebSocket to ``/twilio`` (Twilio Media Streams), the path the load balancer forwards
(with ``/web/offer``, web calls' signaling, added by ``parley_infra.web_media``; anything else, ``/stats``
included, is answered 404 by the listener itself; health checks reach the task directly); the container
(``streaming-fargate/``, built from its Dockerfile with the repository root as context) runs the agent,
moves the call's state (the same state machine as the Lambdas: ``TransactWriteItems`` on calls, campaign
lines, campaigns),
writes the recording and transcript to the recordings bucket, analyses the finished call with Bedrock
and puts ``call.*`` events on the calls bus (source ``parley.calls``): ``call.completed`` carries
presigned URLs of the recording (and of the transcript when it is too long to inline), signed with the
task role, which therefore reads those objects. Rules on that bus belong to the bus's consumers
(``StreamingService.bus`` is exposed for them; ``parley_infra.delivery`` routes ``call.completed``).

Draining. ECS first deregisters a task from the target group: the ALB sends it no new connections
and keeps the open WebSockets for the deregistration delay (120 s), then closes them. ECS then sends
SIGTERM; the server answers 503 on ``/healthz``, lets live calls finish, finalizes the rest after
110 s and exits within the container's stop timeout (120 s, Fargate's maximum). Scale-in is slow
(5 min cooldown) so calls are not cut by flapping capacity; long calls can still be cut on scale-in
after the deregistration delay (task scale-in protection from the container would close that gap).

Keep-alive. The server pings every WebSocket every 20 s; the ALB's idle timeout (120 s) is well
above it, so a quiet call (hold, long silence) is never closed by the load balancer.

Network. Two AZs: the ALB in public subnets, the tasks in private subnets with NAT egress (they call
Transcribe, Bedrock, Polly, EventBridge, Secrets Manager over the internet endpoints). Tasks with
public IPs in public subnets would save the NAT gateway (~$33/month plus data), but would put every
task's address on the internet, guarded only by its security group; private subnets keep the ALB the
only way in. One NAT gateway by default (``streamingNatGateways=2`` for AZ-independent egress);
S3 and DynamoDB traffic bypasses NAT through free gateway endpoints.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Annotations, Aws, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.region_info import FactName
from constructs import Construct
from pynamodb.models import Model

from chalicelib.event_bus import SOURCE as CALL_EVENT_SOURCE
from parley_infra.keys import ParleyKeys
from parley_infra.permissions import (
    TABLE_GET_ITEM,
    TABLE_READ_WRITE,
    allow_queue_sends,
    allow_secret_read,
    allow_secret_sealing,
    allow_tables,
)
from parley_infra.settings import REPO_ROOT, StageSettings
from parley_infra.stream_secret import SECRET_ARN_VARIABLE
from parley_infra.tables import ParleyTables

CONTAINER_PORT = 8080
HEALTH_CHECK_PATH = "/healthz"
TWILIO_PATH = "/twilio"
PUBLIC_PATHS = (TWILIO_PATH,)
"""The only paths the internet-facing listener forwards (exact: no wildcard), so ``/stats`` stays inside."""
NOT_FORWARDED = elbv2.ListenerAction.fixed_response(
    404, content_type="application/json",
    message_body='{"error": "not_found", "error_description": "no such path on the streaming service"}',
)

STOP_TIMEOUT = Duration.seconds(120)
"""SIGTERM to SIGKILL: the server drains for up to 110 s, then finalizes the rest (Fargate's maximum)."""
DEREGISTRATION_DELAY = Duration.seconds(120)
"""How long the ALB keeps a deregistering task's WebSockets open before closing them."""
IDLE_TIMEOUT = Duration.seconds(120)
"""ALB idle timeout: well above the server's 20 s WebSocket ping (ALB's default is 60 s)."""
KEEPALIVE_INTERVAL = Duration.seconds(20)
"""The server's WebSocket ping interval (the container's contract; the idle timeout must exceed it)."""

METRIC_NAMESPACE = "Parley/Streaming"
ACTIVE_CALLS_METRIC = "ActiveCalls"
"""Published by every task every 10 s (CloudWatch embedded metric format), dimension ``Service``."""
SCALE_IN_COOLDOWN = Duration.minutes(5)
SCALE_OUT_COOLDOWN = Duration.seconds(60)
CPU_TARGET_PERCENT = 60
"""CPU target tracking is a safety net for pipelines heavier than the calls-per-task target assumes."""

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
ACCESS_LOG_RETENTION = Duration.days(90)
RECORDINGS_TO_INFREQUENT_ACCESS = Duration.days(30)
RECORDINGS_EXPIRATION = Duration.days(365)
"""Recordings and transcripts are kept a year (infrequent access after 30 days), then deleted."""

ENGINE_DEFAULTS = {
    "PARLEY_STT_DEFAULT": "amazon_transcribe",
    "PARLEY_LLM_DEFAULT": "bedrock",
    "PARLEY_TTS_DEFAULT": "polly",
}
"""The deployed default engines: AWS services (the local engines are for the local stack)."""

EVENT_SOURCE = CALL_EVENT_SOURCE
"""``Source`` of the events the service puts on the bus (``call.started``, ``call.completed``...)."""

RECORDING_PREFIXES = ("recordings/", "transcripts/")
"""Where ``chalicelib.recordings`` stores a call's WAV and transcript (the keys presigned URLs point at)."""

IMAGE_FILES = (
    "requirements.txt",
    "chalicelib",
    "streaming-fargate/requirements.txt",
    "streaming-fargate/requirements-nodeps.txt",
    "streaming-fargate/Dockerfile",
    "streaming-fargate/streaming",
)
"""What the image is built from (the Dockerfile copies nothing else)."""

IMAGE_EXCLUDES = ["*", *(f"!{path}" for path in IMAGE_FILES), "**/__pycache__", "**/*.pyc"]
"""The build context, as an allow-list: the repository root holds the virtualenv, Chalice's deployment
cache and git history (about 1 GB), which would make every synth hash and copy them, and change the
image's asset hash on every unrelated edit."""

TRANSCRIBE_STREAMING = ("transcribe:StartStreamTranscription", "transcribe:StartStreamTranscriptionWebSocket")
POLLY_SYNTHESIZE = ("polly:SynthesizeSpeech",)
BEDROCK_INVOKE = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
"""``Converse`` / ``ConverseStream`` are authorized as InvokeModel / InvokeModelWithResponseStream."""

_INFERENCE_PROFILE = re.compile(r"^(us|eu|apac|us-gov|jp|au|ca|global)\.(.+)$")


def bedrock_inference_profile(model_id: str) -> tuple[str, str] | None:
    """(geography, foundation model id) for a cross-region inference profile id, else None."""
    match = _INFERENCE_PROFILE.match(model_id)
    return (match.group(1), match.group(2)) if match else None


def bedrock_model_arns(model_id: str) -> list[str]:
    """The ARNs ``bedrock:InvokeModel*`` must allow for ``model_id``.

    A foundation model id (``amazon.nova-micro-v1:0``) is one ARN in the stack's region. A
    cross-region inference profile id (``us.amazon.nova-micro-v1:0``) needs the profile in this
    account and region and the foundation model in every region the profile routes to.
    """
    partition = Aws.PARTITION
    profile = bedrock_inference_profile(model_id)
    if profile is None:
        return [f"arn:{partition}:bedrock:{Aws.REGION}::foundation-model/{model_id}"]
    return [
        f"arn:{partition}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/{model_id}",
        f"arn:{partition}:bedrock:*::foundation-model/{profile[1]}",
    ]


@dataclass(frozen=True)
class StreamingDataAccess:
    """The tables, keys and secret the service's task role is granted."""

    tables: ParleyTables
    keys: ParleyKeys
    stream_token_secret: secretsmanager.ISecret
    dial_queue_arns: tuple[str, ...] = ()
    """Ending a campaign call (``call_end.end_call``) feeds the campaign's next contact into the dialer queue; ending
    a WhatsApp call queues its hang-up on the campaign-operations queue (``chalicelib.whatsapp.hang_up``)."""


class StreamingService(Construct):
    """VPC, cluster, Fargate service, ALB, recordings bucket, calls bus and autoscaling."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StageSettings, data: StreamingDataAccess
    ) -> None:
        super().__init__(scope, construct_id)
        # S3 server access logs are delivered by bucket policy, not by the legacy log-delivery ACL, so
        # the log bucket keeps ACLs disabled (CDK's default without this flag is the ACL).
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        config = settings.streaming
        self.bedrock_model_id = config.bedrock_model_id
        self.service_name = settings.resource_name("streaming")

        self.access_logs = self._access_log_bucket()
        self.recordings = self._recordings_bucket(data.keys.recordings)
        self.bus = events.EventBus(self, "CallEvents", event_bus_name=settings.resource_name("calls"))

        self.flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            log_group_name=f"/parley/{settings.stage}/vpc-flow-logs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="tasks", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "FlowLogs": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            cluster_name=settings.resource_name("streaming"),
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/parley/{settings.stage}/streaming",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Parley streaming service (ECS task)",
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            family=self.service_name,
            cpu=config.cpu,
            memory_limit_mib=config.memory_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.environment = {
            "PARLEY_TABLE_PREFIX": settings.table_prefix,
            "AWS_REGION": Aws.REGION,
            "AWS_DEFAULT_REGION": Aws.REGION,
            SECRET_ARN_VARIABLE: data.stream_token_secret.secret_arn,
            "PARLEY_RECORDINGS_BUCKET": self.recordings.bucket_name,
            "PARLEY_EVENT_BUS_NAME": self.bus.event_bus_name,
            "PARLEY_SEARCH_KMS_KEY_ID": data.keys.search_keys.key_arn,  # opens accounts' web search keys for calls
            **ENGINE_DEFAULTS,
            "PARLEY_BEDROCK_MODEL_ID": config.bedrock_model_id,
            "PARLEY_SERVICE_NAME": self.service_name,
            "POWERTOOLS_SERVICE_NAME": self.service_name,
        }
        self.container = self.task_definition.add_container(
            "Streaming",
            container_name="streaming",
            image=ecs.ContainerImage.from_asset(
                str(REPO_ROOT),
                file="streaming-fargate/Dockerfile",
                exclude=IMAGE_EXCLUDES,
                ignore_mode=IgnoreMode.DOCKER,
                platform=ecr_assets.Platform.LINUX_AMD64,
            ),
            port_mappings=[ecs.PortMapping(container_port=CONTAINER_PORT, name="http")],
            environment=self.environment,
            logging=ecs.LogDriver.aws_logs(stream_prefix="streaming", log_group=self.log_group),
            stop_timeout=STOP_TIMEOUT,
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            service_name=self.service_name,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            assign_public_ip=False,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=Duration.seconds(60),
        )

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=self.vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            idle_timeout=IDLE_TIMEOUT,
            drop_invalid_header_fields=True,
            deletion_protection=False,
        )
        self._log_access(self.load_balancer, self.access_logs, prefix="alb")
        if config.secure:
            self.listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(config.certificate_arn)],  # type: ignore[arg-type]  # jsii types the listener certificate interface narrowly
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=True,
                default_action=NOT_FORWARDED,
            )
        else:
            self.listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=True, default_action=NOT_FORWARDED
            )
            Annotations.of(self).add_warning_v2(
                "parley:streaming-without-tls",
                "No streamingCertificateArn: the streaming ALB serves plain ws:// on port 80. Twilio only "
                "streams to wss:// URLs; pass -c streamingCertificateArn=... -c streamingDomainName=... for calls.",
            )
        if config.secure and config.domain_name is None:
            Annotations.of(self).add_warning_v2(
                "parley:streaming-url-is-alb-name",
                "streamingCertificateArn without streamingDomainName: the streaming URL uses the ALB's DNS name, "
                "which the certificate cannot cover; give the certificate's domain name.",
            )
        self.target_group = self.listener.add_targets(
            "Streaming",
            priority=10,
            conditions=[elbv2.ListenerCondition.path_patterns(list(PUBLIC_PATHS))],
            port=CONTAINER_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service.load_balancer_target(container_name="streaming", container_port=CONTAINER_PORT)],
            deregistration_delay=DEREGISTRATION_DELAY,
            health_check=elbv2.HealthCheck(
                path=HEALTH_CHECK_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(10),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=2,
            ),
        )

        self.host = config.domain_name or self.load_balancer.load_balancer_dns_name
        """The public name of the service: ``streamingDomainName``, else the ALB's DNS name."""
        self.url = f"{'wss' if config.secure else 'ws'}://{self.host}{TWILIO_PATH}"
        """What carriers connect to (``PARLEY_STREAMING_URL`` for the Lambdas)."""

        self.active_calls = cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=ACTIVE_CALLS_METRIC,
            dimensions_map={"service": self.service_name},  # Powertools Metrics names it "service"
            statistic=cloudwatch.Stats.AVERAGE,
            period=Duration.minutes(1),
        )
        """Calls per task: every task publishes its own count under the same dimension, so the average
        of all data points in a period is the per-task average target tracking needs."""
        self.scaling = self.service.auto_scale_task_count(min_capacity=config.min_tasks, max_capacity=config.max_tasks)
        self.scaling.scale_to_track_custom_metric(
            "ActiveCallsPerTask",
            metric=self.active_calls,
            target_value=config.calls_per_task,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
        )
        self.scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=CPU_TARGET_PERCENT,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
        )

        self._grant(config.bedrock_model_id, data)

    def _log_access(self, load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket, prefix: str) -> None:
        """ALB access logs to ``bucket`` without knowing the region at synth.

        CDK's ``log_access_logs`` needs a concrete region. ELB delivers logs as the region's ELB
        account in regions opened before August 2022 (looked up per region in a template mapping) and
        as the log-delivery service principal in later ones; the bucket policy admits both, to this
        stack's account's log prefix only. Regions newer than the CDK's region table have no mapping
        entry: deploying there fails at the FindInMap (drop the account statement for such a region).
        """
        load_balancer.set_attribute("access_logs.s3.enabled", "true")
        load_balancer.set_attribute("access_logs.s3.bucket", bucket.bucket_name)
        load_balancer.set_attribute("access_logs.s3.prefix", prefix)
        logs_path = bucket.arn_for_objects(f"{prefix}/AWSLogs/{Aws.ACCOUNT_ID}/*")
        elb_account = Stack.of(self).regional_fact(FactName.ELBV2_ACCOUNT)
        for principal in (
            iam.ArnPrincipal(f"arn:{Aws.PARTITION}:iam::{elb_account}:root"),
            iam.ServicePrincipal("logdelivery.elasticloadbalancing.amazonaws.com"),
        ):
            bucket.add_to_resource_policy(
                iam.PolicyStatement(actions=["s3:PutObject"], principals=[principal], resources=[logs_path])
            )
        load_balancer.node.add_dependency(bucket)

    def _access_log_bucket(self) -> s3.Bucket:
        """ALB access logs and the recordings bucket's server access logs (SSE-S3: ALB logs need it)."""
        return s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_RETENTION),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _recordings_bucket(self, key: kms.IKey) -> s3.Bucket:
        """Call recordings (WAV) and transcripts (JSON), encrypted with the recordings key."""
        return s3.Bucket(
            self,
            "Recordings",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="s3/recordings/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="age-out-recordings",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=RECORDINGS_TO_INFREQUENT_ACCESS,
                        )
                    ],
                    expiration=RECORDINGS_EXPIRATION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _grant(self, model_id: str, data: StreamingDataAccess) -> None:
        """The task role: what the service's code calls, on exactly this stage's resources."""
        from chalicelib.db.models import Account, Agent, Call, Campaign, CampaignLine, PhoneNumber, PostCallAction

        role = self.task_role
        # The agent to run (call_media.admit; its name in call.completed): one item by key.
        allow_tables(role, TABLE_GET_ITEM, data.tables.arns([Agent]), data.keys.data)
        allow_tables(role, TABLE_READ_WRITE, data.tables.arns([Call, Campaign, CampaignLine]), data.keys.data)
        # A finalized campaign call feeds the next contact; an ended WhatsApp call asks the campaign-operations
        # worker to hang it up on Graph (SSE-SQS: no key grant).
        if data.dial_queue_arns:
            allow_queue_sends(role, data.dial_queue_arns)
        # Post-call actions' config (the variables to extract) and the caller id's digits (call.completed): those
        # attributes only, never the actions' sealed secrets or the numbers' sealed carrier credentials. There is
        # no grant on the secrets key: the service opens no sealed secret of those.
        _allow_attribute_reads(role, "dynamodb:Query", data.tables.arns([PostCallAction]), PostCallAction, "config")
        _allow_attribute_reads(role, "dynamodb:GetItem", data.tables.arns([PhoneNumber]), PhoneNumber, "number")
        # Web search: the account's Tavily/Exa keys (that attribute of the account only), sealed with a key of their
        # own, the one sealing key the service may decrypt with (search_credentials.keys_for_call).
        _allow_attribute_reads(role, "dynamodb:GetItem", data.tables.arns([Account]), Account, "sealed_search_keys")
        allow_secret_sealing(role, data.keys.search_keys, seal=False)
        allow_secret_read(role, data.stream_token_secret)
        # Recordings are uploaded in parts (bounded memory); a failed upload is aborted.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[self.recordings.arn_for_objects("*")]
            )
        )
        # call.completed's recording (and long transcript) URLs are presigned with this role: S3 checks
        # GetObject (and the key's Decrypt, below) against it when a receiver follows the URL.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.recordings.arn_for_objects(f"{prefix}*") for prefix in RECORDING_PREFIXES],
            )
        )
        # PutObject with SSE-KMS: a data key for the object (Decrypt for multipart uploads and for the
        # presigned GETs), through S3 only.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[data.keys.recordings.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.bus.event_bus_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(BEDROCK_INVOKE), resources=bedrock_model_arns(model_id))
        )
        # Transcribe streaming and Polly speech synthesis have no resource to scope to (see nag.py).
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=[*TRANSCRIBE_STREAMING, *POLLY_SYNTHESIZE], resources=["*"])
        )


def _allow_attribute_reads(
    role: iam.IRole, action: str, table_arns: list[str], model: type[Model], *attributes: str
) -> None:
    """``action`` on ``table_arns`` returning only the model's key attributes and ``attributes`` (IAM
    fine-grained access: a request that projects anything else, or everything, is denied)."""
    keys = [a.attr_name for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[action],
            resources=table_arns,
            conditions={
                "ForAllValues:StringEquals": {"dynamodb:Attributes": [*keys, *attributes]},
                "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
            },
        )
    )

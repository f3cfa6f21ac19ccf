"""cdk-nag (AWS Solutions checks) and the written reasons for each finding we accept.

cdk-nag 3 runs as a CDK policy-validation plugin: ``app.synth()`` fails with a report when any error
is neither fixed nor acknowledged. Acknowledgments are per resource and per rule (or per finding),
never stack-wide, so a new resource is checked afresh.
"""
from __future__ import annotations

from aws_cdk import Acknowledgment, App, DefaultStackSynthesizer, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from parley_infra.dashboard import Dashboard, deployment_handler
from parley_infra.monitoring import ROUTES, WEBSOCKET_API
from parley_infra.stack import MCP_HANDLER, MONITOR_PUBLISHERS, ParleyStack
from parley_infra.status import METRIC_DATA, STATUS_PROBE, TARGET_HEALTH
from parley_infra.streaming import RECORDING_PREFIXES, StreamingService, bedrock_inference_profile


def enable_nag(app: App) -> None:
    """Run the AWS Solutions rule pack on every stack of ``app`` at synth time."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one rule (``Rule`` or ``Rule[finding]``) on ``construct`` and its children, with a reason."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


MANAGED_API_GATEWAY_LOGGING_POLICY = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
)


def acknowledge_findings(stack: ParleyStack) -> None:
    """Accept, with reasons, the findings that are deliberate in this design."""
    acknowledge(
        stack.api.node.find_child("ApiGatewayCloudWatchRole"),
        f"AwsSolutions-IAM4[{MANAGED_API_GATEWAY_LOGGING_POLICY}]",
        "This is the region-wide role API Gateway itself assumes to write execution and access logs "
        "(AWS::ApiGateway::Account). It serves every REST API in the account and region, so it cannot "
        "be scoped to this stack's log groups; AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained "
        "policy for exactly this service role and holds only CloudWatch Logs permissions.",
    )
    acknowledge(
        stack.stream_token_secret,
        "AwsSolutions-SMG4",
        "The stream-token secret is an HMAC key, not a credential of another service: rotating it means "
        "only generating a new random value, and the signer (the Lambdas) and the verifier (the streaming "
        "service) read it independently, so a scheduled rotation would reject tokens issued just before it "
        "(they live an hour) until both sides accept the previous version too. Until then it is rotated by "
        "hand in a quiet window (put-secret-value); a leak only lets someone join a call's media stream "
        "for at most an hour per token and never exposes customer credentials.",
    )
    acknowledge(
        stack.usage_plan,
        "CloudFormation-Validate::F1020",
        "The usage plan names the REST API's stage with SAM's '<Api>.Stage' reference, which the SAM "
        "transform resolves to the stage it generates (RestAPI<stage>Stage) at deploy time; the check reads "
        "the template before the transform, where that resource does not exist yet. The reference also makes "
        "CloudFormation create the plan after the stage (a plan naming a missing stage fails).",
    )
    acknowledge(
        stack.mcp.function,
        "AwsSolutions-L1",
        "The MCP server's function runs the Chalice package (deployment.zip) with the Chalice functions' runtime: "
        "chalice package builds that package's wheels for the Python it runs on, so this function cannot move "
        "to a newer runtime alone; it moves with the Chalice app's Python.",
    )
    acknowledge_streaming(stack.streaming)
    acknowledge_status_probe(stack)
    acknowledge_monitoring(stack)
    acknowledge_dashboard(stack.dashboard)


def acknowledge_status_probe(stack: ParleyStack) -> None:
    """The status probe's accepted findings: the target-health and metric reads, and its key's secret."""
    acknowledge(
        stack.roles[STATUS_PROBE].node.find_child("DefaultPolicy"),
        "AwsSolutions-IAM5[Resource::*]",
        f"{TARGET_HEALTH} and {METRIC_DATA} support no resource-level permissions, so IAM only accepts '*'. "
        f"Both are read-only. {TARGET_HEALTH} reveals the health of load balancer targets and nothing else, and is "
        "the one way the probe (outside the VPC) learns whether the streaming tasks pass their /healthz checks. "
        f"{METRIC_DATA} reads metrics (no logs, no data), and is the one way to learn the age of a queue's oldest "
        "message (ApproximateAgeOfOldestMessage is a CloudWatch metric, not a queue attribute). Every other grant "
        "of this role names its resources.",
    )
    acknowledge(
        stack.status_key_secret,
        "AwsSolutions-SMG4",
        "The secret holds an API key of an account with no data, issued by an operator with cli.accounts (the "
        "only way keys are made); a rotation Lambda would need the right to issue keys, which no function has. "
        "It is rotated by hand: issue a new key, put it in the secret, disable the old key (the probe re-reads "
        "the secret every 5 minutes and at once when its key is refused).",
    )


def _logical_id(construct: IConstruct) -> str:
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]  # a construct's default child is a CfnElement here


def acknowledge_streaming(streaming: StreamingService) -> None:
    """The streaming service's accepted findings (task and execution roles, environment, public ALB)."""
    task_policy = streaming.task_role.node.find_child("DefaultPolicy")
    recordings = _logical_id(streaming.recordings)
    acknowledge(
        task_policy,
        f"AwsSolutions-IAM5[Resource::<{recordings}.Arn>/*]",
        "The streaming service writes each call's recording and transcript under a new key (account and "
        "call ids), so the keys cannot be listed in advance; this grant is s3:PutObject only (no list or "
        "delete) on the one recordings bucket, and the bucket's key may only be used through S3.",
    )
    for prefix in RECORDING_PREFIXES:
        acknowledge(
            task_policy,
            f"AwsSolutions-IAM5[Resource::<{recordings}.Arn>/{prefix}*]",
            f"s3:GetObject under {prefix} of the recordings bucket only: call.completed carries presigned GET "
            "URLs of a call's recording and transcript, signed with this role, and S3 authorizes the receiver's "
            "GET as this role. Object keys are per account and call, created as calls end, so they cannot be "
            "listed in advance; no list, delete or other bucket is granted.",
        )
    acknowledge(
        task_policy,
        "AwsSolutions-IAM5[Resource::*]",
        "Only transcribe:StartStreamTranscription(WebSocket) and polly:SynthesizeSpeech have '*': Amazon "
        "Transcribe streaming defines no resource types, and Polly's only resource type is a pronunciation "
        "lexicon, which Parley does not use, so neither action can be scoped to an ARN (Service Authorization "
        "Reference). Every other statement of this role names its resources.",
    )
    profile = bedrock_inference_profile(streaming.bedrock_model_id)
    if profile is not None:
        acknowledge(
            task_policy,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{profile[1]}]",
            "A cross-region inference profile routes requests to the same foundation model in any region of "
            "its geography, and Bedrock authorizes the model in the region that serves the request: the grant "
            "names the one model, in every region, and the profile itself in this account and region only.",
        )
    acknowledge(
        streaming.task_definition.obtain_execution_role().node.find_child("DefaultPolicy"),
        "AwsSolutions-IAM5[Resource::*]",
        "The task execution role's '*' is ecr:GetAuthorizationToken, which has no resource-level permissions "
        "(the token is account-wide); pulling layers is scoped to the image's repository and writing logs to "
        "the service's log group. CDK generates this policy for the image asset.",
    )
    acknowledge(
        streaming.task_definition,
        "AwsSolutions-ECS2",
        "The container's environment holds names, ARNs and engine defaults only (table prefix, bucket, bus, "
        "secret ARN, key ARN, model id, the KVS TURN channel ARN): nothing secret. The one secret, the "
        "stream-token HMAC key, is read at run time with secretsmanager:GetSecretValue, never injected, so a "
        "rotation needs no redeploy. With webMedia=ice-servers it also holds the configured TURN servers' "
        "username and credential, which are not server secrets: the API hands the same list to every "
        "browser that starts a web call.",
    )
    acknowledge(
        streaming.load_balancer,
        "AwsSolutions-EC23",
        "The ALB is the public media endpoint carriers (Twilio Media Streams) connect to from addresses they "
        "do not publish as a fixed range, so its listener port (443, or 80 without a certificate) is open to "
        "the internet; only that port is open, invalid headers are dropped, and the tasks accept traffic from "
        "the ALB's security group only. Every stream must also present a signed, short-lived stream token.",
    )


def acknowledge_monitoring(stack: ParleyStack) -> None:
    """The monitoring WebSocket API's accepted findings (authorization in $connect, posts to any connection)."""
    for route_key, handler in ROUTES.items():
        acknowledge(
            stack.api.get_resource(f"{handler}Route"),
            "AwsSolutions-APIG4",
            f"The monitoring WebSocket API's {route_key} route. API Gateway authorizes a WebSocket connection once, "
            "on $connect, and allows no authorizer on other routes: the $connect handler itself authenticates "
            "every connect (a secret API key, a 5-minute monitor token or a streaming task's token, checked "
            "against DynamoDB and the stream-token secret) and answers 401, which refuses the WebSocket before it "
            "opens; $default and $disconnect only ever run on a connection $connect accepted and stored, and act "
            "on that stored connection's account only.",
        )
    connections = (
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
        f"<{WEBSOCKET_API}>/{stack.monitoring.stage_name}/POST/@connections/*]"
    )
    reason = (
        "execute-api:ManageConnections on POST @connections/* of this stack's monitoring WebSocket API and stage "
        "only: API Gateway makes a new connection id at every connect, so the ids cannot be listed in advance. "
        "The grant allows post_to_connection (no GET or DELETE of connections) and no other API or stage."
    )
    for logical_id in (*MONITOR_PUBLISHERS, MCP_HANDLER):
        acknowledge(stack.roles[logical_id].node.find_child("DefaultPolicy"), connections, reason)
    acknowledge(stack.streaming.task_role.node.find_child("DefaultPolicy"), connections, reason)


def acknowledge_dashboard(dashboard: Dashboard) -> None:
    """The dashboard's distribution (default certificate, no WAF, no geo restriction) and its file deployment."""
    distribution = dashboard.distribution
    acknowledge(
        distribution,
        "AwsSolutions-CFR4",
        "The dashboard is served on the distribution's own *.cloudfront.net name with CloudFront's default "
        "certificate, for which CloudFront fixes the minimum viewer protocol at TLSv1 whatever the policy says. "
        "Viewers must use HTTPS (no HTTP at all), browsers negotiate TLS 1.2/1.3 anyway, and the origins are "
        "reached over TLS 1.2 only. A custom domain with an ACM certificate would allow TLSv1.2_2021.",
    )
    acknowledge(
        distribution,
        "AwsSolutions-CFR1",
        "Operators sign in from wherever they work, and the page is useless without a secret API key, which "
        "the REST API checks on every call: a country allow-list would only lock out travelling operators.",
    )
    acknowledge(
        distribution,
        "AwsSolutions-CFR2",
        "The distribution serves a static page and forwards /api/* to the REST API, which stays reachable "
        "directly at its own URL (Twilio calls it there), so a WAF on CloudFront would not shield the API; "
        "the API's stage and per-account throttles and its authorizer apply to both doors.",
    )
    handler = deployment_handler(distribution)
    if handler is None:
        return
    reason_prefix = (
        "CDK's BucketDeployment custom resource (one Lambda per stack, run only by CloudFormation at deploy "
        "time, to copy the dashboard's files from the CDK asset bucket into the dashboard bucket)"
    )
    acknowledge(
        handler,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        f"{reason_prefix}: the role CDK generates for it carries AWSLambdaBasicExecutionRole (writing its own "
        "CloudWatch logs only); it is never invoked by application traffic.",
    )
    policy = f"{reason_prefix}: CDK generates its policy, scoped to the bootstrap asset bucket (read the staged zip) " \
        "and the dashboard bucket (write, list and prune the page's files, whose keys CDK's wildcards cover)"
    assets = f"cdk-{DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-<AWS::AccountId>-<AWS::Region>"
    for finding in ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:DeleteObject*",
                    "Action::s3:Abort*", f"Resource::arn:<AWS::Partition>:s3:::{assets}/*",
                    f"Resource::<{_logical_id(dashboard.bucket)}.Arn>/*"):
        acknowledge(handler, f"AwsSolutions-IAM5[{finding}]", f"{policy}: {finding} is one of those grants.")
    acknowledge(
        handler,
        "AwsSolutions-IAM5[Resource::*]",
        f"{reason_prefix}: '*' is cloudfront:CreateInvalidation/GetInvalidation, which CDK grants on every "
        "distribution for the invalidation of the dashboard's distribution after each copy.",
    )
    acknowledge(
        handler,
        "AwsSolutions-L1",
        f"{reason_prefix}: its runtime is chosen by the CDK release (with the AWS CLI layer it bundles) and "
        "moves forward with CDK upgrades; it handles no application data.",
    )

"""cdk-nag (AWS Solutions checks) and the written reasons for each finding we accept.

cdk-nag 3 runs as a CDK policy-validation plugin: ``app.synth()`` fails with a report when any error
is neither fixed nor acknowledged. Acknowledgments are per resource and per rule (or per finding),
never stack-wide, so a new resource is checked afresh.
"""
from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from parley_infra.stack import ParleyStack


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

"""The operator dashboard (``chalicelib/web_assets/dashboard.*``) on CloudFront, with the REST API on the same origin.

- A private S3 bucket (public access blocked, TLS only, SSE-S3, server access logs) holds the page's files,
  uploaded by ``BucketDeployment`` on every deploy (CloudFront is invalidated afterwards). CloudFront reads
  them through origin access control (OAC, SigV4): the bucket policy admits this distribution only.
- ``/api/*`` goes to the REST API's regional endpoint (origin path: the API's stage), so the page's default
  API base, ``<page origin>/api/v1``, is the API itself: no CORS, and the API key the operator types never
  leaves the page's origin. That behaviour caches nothing (``CachingDisabled``) and forwards every viewer
  header, query string and cookie except ``Host`` (``AllViewerExceptHostHeader``: API Gateway routes on
  its own host name). With caching off CloudFront forwards ``Authorization`` through that policy (an
  explicit origin request policy cannot name it; a caching policy would have to key on it).
- Why this fits the REST API as it is: the API is REGIONAL (an edge-optimized API would put a second,
  AWS-managed CloudFront in the path); the per-account throttle takes its API Gateway key from the
  authorizer (``x-amazon-apigateway-api-key-source: AUTHORIZER``), so no ``x-api-key`` header has to cross
  CloudFront; Twilio callbacks keep using the API's own URL (``PARLEY_PUBLIC_API_URL``), which is what their
  signatures are computed on. The API is still reachable directly (``EndpointURL``): CloudFront is a second
  door for the page, not a shield.
- Every response carries security headers (HSTS, nosniff, ``DENY`` framing, strict referrer, and a content
  security policy that admits the page's own scripts and styles, the API on the same origin, the monitoring
  WebSocket and the recordings bucket's presigned URLs). Viewers must use HTTPS; CloudFront reaches both
  origins over TLS 1.2.
- Access logs (CloudFront standard logs) go to their own bucket: CloudFront delivers them with an ACL, which
  the stack's other log bucket (ACLs disabled) cannot accept.
"""
from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct, IConstruct

from parley_infra.settings import REPO_ROOT

ASSETS_DIR = REPO_ROOT / "chalicelib" / "web_assets"
ASSET_PREFIX = "dashboard."
"""The dashboard's files: ``dashboard.html``, ``dashboard.js``, ``dashboard.css`` (whatever exists)."""
INDEX = "dashboard.html"
API_PATH_PATTERN = "/api/*"
LOG_RETENTION = Duration.days(90)
HANDLER_ID_PREFIX = "Custom::CDKBucketDeployment"
"""CDK's construct id prefix for the BucketDeployment singleton function (followed by a fixed uuid)."""


def dashboard_files(assets_dir: Path = ASSETS_DIR) -> list[Path]:
    """The files deployed with the dashboard, by name."""
    return sorted(path for path in assets_dir.glob(f"{ASSET_PREFIX}*") if path.is_file())


def deployment_handler(scope: IConstruct) -> IConstruct | None:
    """The stack's BucketDeployment handler (a singleton Lambda CDK adds at the stack's root), if any."""
    stack = Stack.of(scope)
    found = [child for child in stack.node.children if child.node.id.startswith(HANDLER_ID_PREFIX)]
    return found[0] if found else None


def content_security_policy(monitor_host: str, recordings_bucket: str) -> str:
    """What the page may load and reach: itself, the same-origin API, the monitoring WebSocket, recordings."""
    recordings = (f"https://{recordings_bucket}.s3.{Aws.URL_SUFFIX} "
                  f"https://{recordings_bucket}.s3.{Aws.REGION}.{Aws.URL_SUFFIX}")
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' wss://{monitor_host}",
        f"media-src 'self' {recordings}",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class Dashboard(Construct):
    """Private bucket + CloudFront distribution (OAC) for the page, ``/api/*`` routed to the REST API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api_id: str,
        rest_api_stage: str,
        monitor_host: str,
        recordings_bucket: str,
        access_logs: s3.IBucket,
        assets_dir: Path = ASSETS_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Site",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="s3/dashboard/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.log_bucket = s3.Bucket(
            self,
            "CdnLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # CloudFront standard logging writes with the awslogsdelivery account's ACL grant.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="s3/dashboard-cdn-logs/",
            lifecycle_rules=[s3.LifecycleRule(id="expire-cdn-logs", expiration=LOG_RETENTION)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Parley dashboard: security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(monitor_host, recordings_bucket), override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=True),
            ),
        )
        self.api_origin = origins.HttpOrigin(
            f"{rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
            origin_path=f"/{rest_api_stage}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            read_timeout=Duration.seconds(30),  # the API's integration timeout is 29 s
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment="Parley operator dashboard",
            default_root_object=INDEX,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                compress=True,
            ),
            additional_behaviors={
                API_PATH_PATTERN: cloudfront.BehaviorOptions(
                    origin=self.api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=self.headers,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                )
            },
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        self.url = f"https://{self.distribution.distribution_domain_name}/"
        """Where operators open the dashboard (output ``DashboardUrl``)."""

        self.files = dashboard_files(assets_dir)
        self.deployment: s3_deployment.BucketDeployment | None = None
        if not self.files:
            Annotations.of(self).add_warning_v2(
                "parley:dashboard-without-files",
                f"No {ASSET_PREFIX}* files in {assets_dir}: the dashboard bucket is deployed empty.",
            )
            return
        self.deployment = s3_deployment.BucketDeployment(
            self,
            "Files",
            destination_bucket=self.bucket,
            sources=[s3_deployment.Source.asset(
                str(assets_dir), exclude=["*", *(f"!{path.name}" for path in self.files)]
            )],
            # Browsers revalidate every load; CloudFront is invalidated by the deployment.
            cache_control=[s3_deployment.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
            memory_limit=256,
        )

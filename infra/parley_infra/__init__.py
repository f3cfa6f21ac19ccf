"""Parley's AWS infrastructure as a CDK v2 app.

The modules each own one concern: ``settings`` (stage naming), ``tables`` (DynamoDB tables derived
from the PynamoDB models), ``keys`` (KMS keys), ``permissions`` (least-privilege IAM statements),
``gateway_responses`` (gateway-level error bodies), ``api`` (the Chalice app), ``nag`` (cdk-nag checks
and acknowledgments), ``stack`` (the composition) and ``build`` (one call that assembles an app).
"""

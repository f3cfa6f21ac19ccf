"""Structured logging (Powertools Logger); never pass secrets to it."""
from aws_lambda_powertools import Logger

logger = Logger(service="parley")

"""The Parley stack: keys, tables, the Chalice API and the roles that tie them together."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct

from parley_infra.api import (
    FunctionSetup,
    chalice_stage_config,
    configure_functions,
    configure_rest_api,
    include_chalice_app,
)
from parley_infra.keys import create_keys
from parley_infra.permissions import (
    TABLE_GET_ITEM,
    TABLE_READ_WRITE,
    allow_logging,
    allow_secret_sealing,
    allow_tables,
    lambda_role,
)
from parley_infra.settings import SERVICE_NAME, StageSettings
from parley_infra.tables import ParleyTables, load_models

API_HANDLER = "APIHandler"
"""Chalice's logical id for the function serving every REST route."""

AUTHORIZER = "ApiKeyAuth"
"""Chalice's logical id for ``chalicelib.api.auth.api_key_auth``; it reads only the ApiKey table."""


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

        self.api_role = lambda_role(self, "ApiHandlerRole", "Parley REST API handler")
        allow_tables(self.api_role, TABLE_READ_WRITE, self.tables.arns(), self.keys.data)
        allow_secret_sealing(self.api_role, self.keys.secrets)

        self.authorizer_role = lambda_role(self, "AuthorizerRole", "Parley API key authorizer")
        allow_tables(self.authorizer_role, TABLE_GET_ITEM, self.tables.arns([ApiKey]), self.keys.data)

        stage_config = chalice_stage_config(settings, {"PARLEY_TABLE_PREFIX": settings.table_prefix})
        self.api = include_chalice_app(self, stage_config, work_dir)
        setups = {
            API_HANDLER: FunctionSetup(
                name=settings.resource_name("api-handler"),
                role=self.api_role,
                environment={"PARLEY_KMS_KEY_ID": self.keys.secrets.key_arn},
            ),
            AUTHORIZER: FunctionSetup(
                name=settings.resource_name("api-key-auth"), role=self.authorizer_role, environment={}
            ),
        }
        log_groups = configure_functions(self.api, setups)
        for logical_id, setup in setups.items():
            allow_logging(setup.role, log_groups[logical_id])
        self.access_logs = configure_rest_api(self.api, settings)

        Tags.of(self).add("project", SERVICE_NAME)
        Tags.of(self).add("stage", settings.stage)

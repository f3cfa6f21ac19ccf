"""The infra building blocks on their own (no Chalice packaging): fast checks of each module's rules."""
from __future__ import annotations

import os

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms

from chalicelib.db.models import ALL_MODELS, Call, IdempotencyRecord, Sequence
from parley_infra.gateway_responses import gateway_responses  # on sys.path via tests/infra/conftest.py
from parley_infra.nag import enable_nag
from parley_infra.settings import StageSettings
from parley_infra.tables import load_models, table_spec


def test_table_spec_reads_keys_indexes_and_ttl_from_the_model() -> None:
    spec = table_spec(Call)
    assert spec.table_name == Call.Meta.table_name
    assert (spec.partition_key.name, spec.partition_key.type) == ("account_id", dynamodb.AttributeType.NUMBER)
    assert spec.sort_key is not None and spec.sort_key.name == "call_id"
    (index,) = spec.indexes
    assert (index.name, index.is_global, index.projection) == ("by-agent", True, dynamodb.ProjectionType.ALL)
    assert index.partition_key is not None and index.partition_key.name == "agent_key"
    assert index.partition_key.type == dynamodb.AttributeType.STRING
    assert spec.ttl_attribute is None
    assert table_spec(IdempotencyRecord).ttl_attribute == "expires_at"
    sequence = table_spec(Sequence)
    assert sequence.sort_key is None and sequence.indexes == ()


def test_every_model_has_a_spec_with_a_unique_construct_id() -> None:
    specs = [table_spec(model) for model in ALL_MODELS]
    assert len({spec.construct_id for spec in specs}) == len(ALL_MODELS)
    assert len({spec.table_name for spec in specs}) == len(ALL_MODELS)


def test_load_models_refuses_a_prefix_the_models_were_not_imported_with() -> None:
    assert load_models(os.environ["PARLEY_TABLE_PREFIX"]) == ALL_MODELS
    with pytest.raises(RuntimeError, match="imported before PARLEY_TABLE_PREFIX"):
        load_models("some-other-prefix")


def test_gateway_response_bodies_must_not_use_template_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import devstack.api_gateway as gateway

    monkeypatch.setitem(gateway.GATEWAY_ERRORS, "DEFAULT_4XX", (400, "bad", "costs $5"))
    with pytest.raises(ValueError, match="must not contain"):
        gateway_responses(gateway.GATEWAY_ERRORS)


def test_stage_names_are_checked() -> None:
    assert StageSettings.for_stage("dev").table_prefix == "parley-dev"
    assert StageSettings.for_stage("prod").resource_name("api-handler") == "parley-prod-api-handler"
    with pytest.raises(ValueError):
        StageSettings.for_stage("Prod_1")


def test_nag_fails_synth_on_an_unacknowledged_finding(tmp_path) -> None:  # noqa: ANN001
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    kms.Key(stack, "UnrotatedKey", enable_key_rotation=False)
    enable_nag(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert "AwsSolutions-KMS5" in (tmp_path / "validation-report.json").read_text()


def test_chalice_stage_config_keeps_the_project_stage_and_owns_iam_and_environment() -> None:
    import json

    from parley_infra.api import CHALICE_DEFAULTS, PLACEHOLDER_ROLE_ARN, chalice_stage_config
    from parley_infra.settings import REPO_ROOT

    project_dev = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())["stages"].get("dev", {})
    dev = chalice_stage_config(StageSettings.for_stage("dev"), {"PARLEY_TABLE_PREFIX": "parley-dev"})
    for key, value in project_dev.items():
        if key != "environment_variables":
            assert dev[key] == value
    assert dev["environment_variables"]["PARLEY_TABLE_PREFIX"] == "parley-dev"
    assert dev["environment_variables"]["POWERTOOLS_SERVICE_NAME"] == "parley"
    assert (dev["manage_iam_role"], dev["iam_role_arn"], dev["autogen_policy"]) == (False, PLACEHOLDER_ROLE_ARN, False)

    other = chalice_stage_config(StageSettings.for_stage("no-such-stage"), {})
    for key, value in CHALICE_DEFAULTS.items():
        assert other[key] == value

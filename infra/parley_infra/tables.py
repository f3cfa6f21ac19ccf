"""DynamoDB tables derived from the PynamoDB models, the single source of truth for key schemas.

``table_spec`` reads a model class (key attributes, secondary indexes, TTL attribute, table name) into
a plain description; ``ParleyTables`` turns each description into a table. Nothing about a table's
shape is written here by hand, so a model change is a table change.
"""
from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct
from pynamodb.attributes import Attribute
from pynamodb.indexes import GlobalSecondaryIndex, Index, LocalSecondaryIndex
from pynamodb.models import Model

_MODELS_MODULE = "chalicelib.db.models"

_ATTRIBUTE_TYPES: Mapping[str, dynamodb.AttributeType] = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}

_PROJECTIONS: Mapping[str, dynamodb.ProjectionType] = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


@dataclass(frozen=True)
class KeySpec:
    """One key attribute: its DynamoDB name and scalar type."""

    name: str
    type: dynamodb.AttributeType

    def to_attribute(self) -> dynamodb.Attribute:
        """As a CDK table attribute."""
        return dynamodb.Attribute(name=self.name, type=self.type)


@dataclass(frozen=True)
class IndexSpec:
    """A secondary index as the model declares it."""

    name: str
    is_global: bool
    partition_key: KeySpec | None
    sort_key: KeySpec | None
    projection: dynamodb.ProjectionType
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    """Everything infra needs to know about one model's table."""

    model: type[Model]
    table_name: str
    partition_key: KeySpec
    sort_key: KeySpec | None
    indexes: tuple[IndexSpec, ...]
    ttl_attribute: str | None

    @property
    def construct_id(self) -> str:
        """Stable construct id (and so logical id) for the table, e.g. ``CallTable``."""
        return f"{self.model.__name__}Table"


def load_models(table_prefix: str) -> tuple[type[Model], ...]:
    """Import the models with ``PARLEY_TABLE_PREFIX=table_prefix`` and return ``ALL_MODELS``.

    The models read the prefix once, when their module is first imported. If it was imported earlier
    with another prefix, the table names and the prefix handed to the Lambdas would disagree, so
    that is an error rather than a silent mismatch.
    """
    if _MODELS_MODULE not in sys.modules:
        os.environ["PARLEY_TABLE_PREFIX"] = table_prefix
    from chalicelib.db.models import ALL_MODELS

    stale = [m.Meta.table_name for m in ALL_MODELS if not m.Meta.table_name.startswith(f"{table_prefix}-")]
    if stale:
        raise RuntimeError(
            f"{_MODELS_MODULE} was imported before PARLEY_TABLE_PREFIX was set to {table_prefix!r} "
            f"(it has tables {stale}); build the infra in a fresh process or pass the prefix in use"
        )
    return ALL_MODELS


def table_spec(model: type[Model]) -> TableSpec:
    """Describe ``model``'s table: name, key schema, indexes and TTL attribute."""
    from chalicelib.db.models import ttl_attribute_name

    attributes = model.get_attributes().values()
    partition_key = _key(attributes, hash_key=True)
    if partition_key is None:
        raise ValueError(f"{model.__name__} has no hash key")
    indexes = tuple(_index_spec(index) for _, index in inspect.getmembers(model, _is_index))
    return TableSpec(
        model=model,
        table_name=model.Meta.table_name,
        partition_key=partition_key,
        sort_key=_key(attributes, hash_key=False),
        indexes=tuple(sorted(indexes, key=lambda i: i.name)),
        ttl_attribute=ttl_attribute_name(model),
    )


def _is_index(value: object) -> bool:
    return isinstance(value, Index)


def _key(attributes: Iterable[Attribute], *, hash_key: bool) -> KeySpec | None:
    for attribute in attributes:
        if (attribute.is_hash_key if hash_key else attribute.is_range_key):
            return _key_spec(attribute)
    return None


def _key_spec(attribute: Attribute) -> KeySpec:
    try:
        return KeySpec(name=attribute.attr_name, type=_ATTRIBUTE_TYPES[attribute.attr_type])
    except KeyError:
        raise ValueError(f"{attribute.attr_name}: {attribute.attr_type!r} cannot be a key attribute") from None


def _index_spec(index: Index) -> IndexSpec:
    if not isinstance(index, (GlobalSecondaryIndex, LocalSecondaryIndex)):
        raise TypeError(f"unsupported index type {type(index).__name__}")
    attributes = index.Meta.attributes.values()
    projection = index.Meta.projection
    return IndexSpec(
        name=index.Meta.index_name,
        is_global=isinstance(index, GlobalSecondaryIndex),
        partition_key=_key(attributes, hash_key=True),
        sort_key=_key(attributes, hash_key=False),
        projection=_PROJECTIONS[projection.projection_type],
        non_key_attributes=tuple(getattr(projection, "non_key_attributes", None) or ()),
    )


class ParleyTables(Construct):
    """One on-demand, point-in-time-recoverable, KMS-encrypted, retained table per model."""

    def __init__(
        self, scope: Construct, construct_id: str, *, models: Iterable[type[Model]], encryption_key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.specs: tuple[TableSpec, ...] = tuple(table_spec(model) for model in models)
        self.tables: dict[type[Model], dynamodb.Table] = {
            spec.model: self._table(spec, encryption_key) for spec in self.specs
        }

    def _table(self, spec: TableSpec, key: kms.IKey) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.construct_id,
            table_name=spec.table_name,
            partition_key=spec.partition_key.to_attribute(),
            sort_key=spec.sort_key.to_attribute() if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            if index.is_global:
                assert index.partition_key is not None
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=index.partition_key.to_attribute(),
                    sort_key=index.sort_key.to_attribute() if index.sort_key else None,
                    projection_type=index.projection,
                    non_key_attributes=list(index.non_key_attributes) or None,
                )
            else:
                assert index.sort_key is not None
                table.add_local_secondary_index(
                    index_name=index.name,
                    sort_key=index.sort_key.to_attribute(),
                    projection_type=index.projection,
                    non_key_attributes=list(index.non_key_attributes) or None,
                )
        return table

    def arns(self, models: Iterable[type[Model]] | None = None) -> list[str]:
        """ARNs of the given models' tables (all by default) and of each of their indexes, by name."""
        chosen = set(models) if models is not None else set(self.tables)
        arns: list[str] = []
        for spec in self.specs:
            if spec.model not in chosen:
                continue
            table_arn = self.tables[spec.model].table_arn
            arns.append(table_arn)
            arns.extend(f"{table_arn}/index/{index.name}" for index in spec.indexes)
        return arns

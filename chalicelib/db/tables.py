"""Create the tables described by the models (used by the local stack and the tests)."""
from __future__ import annotations

from pynamodb.models import Model

from chalicelib.db.models import ALL_MODELS


def create_all(models: tuple[type[Model], ...] = ALL_MODELS) -> None:
    for model in models:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        ttl_attribute = ttl_attribute_name(model)
        if ttl_attribute:
            client = model._get_connection().connection.client
            client.update_time_to_live(
                TableName=model.Meta.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
            )


def ttl_attribute_name(model: type[Model]) -> str | None:
    from pynamodb.attributes import TTLAttribute

    for name, attribute in model.get_attributes().items():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name
    return None

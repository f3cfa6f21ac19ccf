"""Makes the embedded DynamoDB (moto) behave like DynamoDB under concurrency, and fast.

moto's in-memory DynamoDB is not thread-safe, and its ``TransactWriteItems`` deep-copies every
touched table to roll back a cancelled transaction, then restores those copies: with concurrent
requests that silently discards other requests' writes, and it costs O(table size) per transaction.
Real DynamoDB applies each request atomically. ``install()`` gives the embedded AWS those semantics:
one lock around every DynamoDB operation, and transactions that check all conditions first and
roll back only the items they touched. Item reads and writes answer with plain JSON instead of going
through moto's model-driven serializer (a fifth of the server's time). Used by the local stack's moto
server and by the tests.
"""
from __future__ import annotations

import base64
import copy
import functools
import json
import threading
from typing import Any

_LOCK = threading.RLock()
_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name, member in list(vars(DynamoDBBackend).items()):
        if callable(member) and not name.startswith("_"):
            setattr(DynamoDBBackend, name, _locked(member))
    DynamoDBBackend.transact_write_items = _locked(_transact_write_items)
    _answer_item_operations_with_plain_json()
    _INSTALLED = True


# Their results hold only attribute values (strings, numbers as strings, bools, bytes, lists, maps),
# counts and keys: DynamoDB's JSON is that dict with bytes in base64. botocore's parser reads only the
# members an output shape declares and skips nulls, as it does for the serializer's output.
_ITEM_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem",
                              "TransactGetItems"})


def _answer_item_operations_with_plain_json() -> None:
    from moto.dynamodb.responses import DynamoResult

    serialize = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in _ITEM_OPERATIONS or isinstance(self.result, Exception):
            return serialize(self, context)
        body = json.dumps(self.result, separators=(",", ":"), default=_wire_value)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    DynamoResult.execute_result = execute_result


def _wire_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not a DynamoDB JSON value: {type(value).__name__}")


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


def _item_key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    plan: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []
    errors: list[tuple[str | None, str | None, Any]] = []
    seen: set[tuple[str, str]] = set()
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        key = _item_key(self, op_type, op)
        marker = (op["TableName"], str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")).expr(current):
            old = current.to_json()["Attributes"] if current and op.get(
                "ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
            errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            errors.append((None, None, None))
        plan.append((op_type, op, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    applied: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for op_type, op, key, before in plan:
            table_name = op["TableName"]
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=op.get("ExpressionAttributeNames"),
                                 expression_attribute_values=op.get("ExpressionAttributeValues"))
            applied.append((table_name, key, before))
    except Exception:
        for table_name, key, before in reversed(applied):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)
        raise

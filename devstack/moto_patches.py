"""Every change the local stack and the tests make to moto, in one place, for one tested moto version.

moto is the embedded AWS of ``make dev`` and of the tests. Stock moto is not thread-safe and some of its
operations cost O(table or queue size); these patches replace a few of its internals. They reach into
moto's private classes, so they are tied to the moto version they were written against:
``requirements-dev.txt`` pins moto to ``TESTED_MOTO_MINOR`` and ``tests/test_third_party_adapters.py`` fails when
the installed moto is another minor version (re-check each patch below against the new code, then bump).

``install()`` (the tests and the local stack's moto server) applies:

1. DynamoDB, one lock around every ``DynamoDBBackend`` operation: moto's in-memory tables are not
   thread-safe, and the local stack's server answers from many threads. Real DynamoDB applies each
   request atomically.
2. DynamoDB ``TransactWriteItems`` that checks every condition first and rolls back only the items it
   touched: moto deep-copies every touched table to roll back a cancelled transaction and restores the
   copies, which with concurrent requests discards other requests' writes and costs O(table size).
3. DynamoDB item operations (GetItem, Query, PutItem, ...) answered with plain JSON instead of moto's
   model-driven serializer (a fifth of the server's time under load); botocore reads the same result.
4. SQS receive filters that read the clock once per receive, not once per message (a receive from a
   queue of thousands of messages took tens of milliseconds).
5. SQS ``Queue.attributes`` computed per key when read: moto rebuilt the whole map (counting every message
   three times) on each send and per received message, O(messages) per request.
6. SQS ``Queue.delete_message`` in one pass that stops at the message (moto scanned the queue three times).
7. EventBridge's JSONPath parses cached: moto compiles a target's input-template paths for every event.

``install(server=True)`` (the moto server of ``make dev``) also applies:

8. moto's server routing lists moto's package directory on every request (~150 ``isdir`` calls, a third
   of its time under load); the list never changes, so it is computed once.

Tested with moto 5.2 (5.2.5; ``TESTED_MOTO_MINOR``). One more place leans on moto's internals without
patching them: ``devstack/keepalive_server.py`` subclasses moto's ``MotoRequestHandler`` (its WSGI environ).
"""
from __future__ import annotations

import base64
import copy
import functools
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

TESTED_MOTO_MINOR = "5.2"
"""The moto ``major.minor`` these patches were written and tested against (pinned in requirements-dev.txt)."""

_LOCK = threading.RLock()
_INSTALLED: set[str] = set()


def install(*, server: bool = False) -> None:
    """Apply the patches (idempotent); ``server`` adds the ones only moto's HTTP server needs."""
    with _LOCK:
        if "core" not in _INSTALLED:
            _lock_dynamodb()
            _answer_item_operations_with_plain_json()
            _speed_up_sqs()
            _cache_jsonpath_parses()
            _INSTALLED.add("core")
        if server and "server" not in _INSTALLED:
            _cache_backend_names()
            _INSTALLED.add("server")


# --- 1, 2: DynamoDB atomic per request ------------------------------------------------------------------

def _lock_dynamodb() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name, member in list(vars(DynamoDBBackend).items()):
        if callable(member) and not name.startswith("_"):
            setattr(DynamoDBBackend, name, _locked(member))
    DynamoDBBackend.transact_write_items = _locked(_transact_write_items)  # type: ignore[method-assign]  # a documented patch of moto (see the module docstring)


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


# --- 3: DynamoDB item operations answered with plain JSON -----------------------------------------------

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

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]  # a documented patch of moto (see the module docstring)


def _wire_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not a DynamoDB JSON value: {type(value).__name__}")


# --- 4, 5, 6: SQS keeps its speed with deep queues ------------------------------------------------------

class LazyQueueAttributes(Mapping[str, Any]):
    """moto's ``Queue.attributes``, computed per key on access; the values and the set of keys are moto's."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        keys = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            keys += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            keys += queue.KMS_ATTRIBUTES
        self._keys = keys

    def __getitem__(self, key: str) -> Any:
        from moto.core.utils import camelcase_to_underscores

        if key not in self._keys:
            raise KeyError(key)
        if key == "RedrivePolicy" and self._queue.redrive_policy:
            return json.dumps(self._queue.redrive_policy)
        value = getattr(self._queue, camelcase_to_underscores(key))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _speed_up_sqs() -> None:
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    Queue.messages = property(messages)  # type: ignore[assignment,method-assign]  # a documented patch of moto (see the module docstring)
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment,method-assign]  # a documented patch of moto
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment,method-assign]  # a documented patch of moto
    Queue.attributes = property(LazyQueueAttributes)  # type: ignore[assignment,method-assign]  # a documented patch of moto
    Queue.delete_message = _delete_message  # type: ignore[method-assign]  # a documented patch of moto


def _delete_message(self: Any, receipt_handle: str) -> None:
    """moto's ``Queue.delete_message`` in one pass (a new list, as moto does, for concurrent readers)."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    if receipt_handle in self.deleted_messages:
        return  # already deleted: deleting again succeeds
    messages = self._messages
    for index, message in enumerate(messages):
        if receipt_handle in message.all_receipt_handles:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            self._messages = messages[:index] + messages[index + 1:]
            return
    raise ReceiptHandleIsInvalid()


# --- 7, 8: EventBridge and server routing caches --------------------------------------------------------

def _cache_jsonpath_parses() -> None:
    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def _cache_backend_names() -> None:
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names

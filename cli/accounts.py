"""Create accounts and API keys.

    python -m cli.accounts create "Acme Dental"        # new account + key (the key is printed once)
    python -m cli.accounts add-key 7 --name ci          # another key for account 7
    python -m cli.accounts disable-key sk_...           # a leaked key: it authenticates nothing from now on
    python -m cli.accounts register-usage-keys          # give keys issued before the usage plan their throttle

It talks to whatever DynamoDB the environment points at: AWS credentials and PARLEY_TABLE_PREFIX
for a deployment, or AWS_ENDPOINT_URL for the local stack (``.dev/stack.json`` has it).

For a deployment, pass the stack's ``UsagePlanId`` output (``--usage-plan-id`` or PARLEY_USAGE_PLAN_ID):
each account gets an API Gateway key in that plan, which throttles it. The deployed API requires one, so a
key issued without it is refused (403) there; the local stack has no usage plan and needs none.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from chalicelib.domain.accounts import UsageKeys, create_account, disable_key, issue_key, register_usage_keys
from cli.usage_keys import GatewayUsageKeys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.accounts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usage-plan-id", default=os.environ.get("PARLEY_USAGE_PLAN_ID") or None,
                        help="the stack's UsagePlanId output (default: PARLEY_USAGE_PLAN_ID)")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create an account and its first API key")
    create.add_argument("name")
    add = sub.add_parser("add-key", help="issue another API key for an account")
    add.add_argument("account_id", type=int)
    add.add_argument("--name", default="default")
    disable = sub.add_parser("disable-key", help="disable an API key (REST, monitor tokens and connects refuse it)")
    disable.add_argument("api_key")
    sub.add_parser("register-usage-keys", help="give every key without one its account's usage-plan key")
    args = parser.parse_args(argv)
    usage_keys: UsageKeys | None = GatewayUsageKeys(args.usage_plan_id) if args.usage_plan_id else None
    if args.command == "create":
        issued = create_account(args.name, usage_keys)
        print(json.dumps({"account_id": issued.account_id, "api_key": issued.api_key}))
    elif args.command == "add-key":
        api_key = issue_key(args.account_id, args.name, usage_keys)
        print(json.dumps({"account_id": args.account_id, "api_key": api_key}))
    elif args.command == "disable-key":
        account = disable_key(args.api_key)
        if account is None:
            print("no such key", file=sys.stderr)
            return 1
        print(json.dumps({"account_id": account, "disabled": True}))
    else:
        if usage_keys is None:
            parser.error("register-usage-keys needs --usage-plan-id (or PARLEY_USAGE_PLAN_ID)")
        print(json.dumps({"registered": register_usage_keys(usage_keys)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Create accounts and API keys.

    python -m cli.accounts create "Acme Dental"        # new account + key (the key is printed once)
    python -m cli.accounts add-key 7 --name ci          # another key for account 7

It talks to whatever DynamoDB the environment points at: AWS credentials and PARLEY_TABLE_PREFIX
for a deployment, or AWS_ENDPOINT_URL for the local stack (``.dev/stack.json`` has it).
"""
from __future__ import annotations

import argparse
import json
import sys

from chalicelib.domain.accounts import create_account, issue_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.accounts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create an account and its first API key")
    create.add_argument("name")
    add = sub.add_parser("add-key", help="issue another API key for an account")
    add.add_argument("account_id", type=int)
    add.add_argument("--name", default="default")
    args = parser.parse_args(argv)
    if args.command == "create":
        issued = create_account(args.name)
        print(json.dumps({"account_id": issued.account_id, "api_key": issued.api_key}))
    else:
        print(json.dumps({"account_id": args.account_id, "api_key": issue_key(args.account_id, args.name)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

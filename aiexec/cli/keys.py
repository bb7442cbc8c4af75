"""`aiexec keys create | list | revoke`: the API keys ingest accepts (see shared/auth.py).

They talk to Firestore directly, with the same `AIEXEC_API_KEY_PEPPER` as the ingest function
(in production: `AIEXEC_API_KEY_PEPPER=$(gcloud secrets versions access latest
--secret=aiexec-api-key-pepper) aiexec keys ...`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx
from google.cloud import firestore

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from aiexec.cli.tables import print_table
from aiexec.client import ServiceUnreachableError
from aiexec.client.queries import firestore_errors
from infra.settings import Settings, get_settings
from shared.auth import KeyStore, PepperMissingError
from shared.budget import Budgets
from shared.budget_math import NANOS_PER_USD
from shared.callbacks.signing import new_secret
from shared.ratelimit import Limit

_COLUMNS = ("key_id", "client_id", "status", "rate", "burst", "budget_usd", "month_usd", "hint")
_NUMBERS = ("burst", "budget_usd", "month_usd")


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="API keys of the ingest function")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="a new key for a client (shown once)")
    create.add_argument("--client", required=True, help="client name the key's tasks belong to")
    create.add_argument("--rate", default="10/s", help="rate limit: N/s, N/m or N/h, or `none`")
    create.add_argument("--burst", type=int, help="requests saved up (default: 2 x rate per s)")
    create.add_argument("--monthly-budget-usd", type=float, help="monthly budget (default: none)")
    create.add_argument("--json", action="store_true", help="machine-readable output")
    create.set_defaults(func=cmd_create)

    listing = actions.add_parser("list", help="every key: client, limits, status, month spend")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)

    revoke = actions.add_parser("revoke", help="revoke a key (by id or the key), or a client's")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("key", nargs="?", help="the key id (from `keys list`) or the key itself")
    which.add_argument("--client", help="revoke every key of this client")
    revoke.set_defaults(func=cmd_revoke)


def _connect(settings: Settings) -> Callable[[], firestore.Client]:
    client: firestore.Client | None = None

    def connect() -> firestore.Client:
        nonlocal client
        if client is None:
            client = firestore.Client(project=settings.project_id)
        return client

    return connect


def _store(settings: Settings) -> KeyStore:
    return KeyStore(settings, _connect(settings))


def _run(action: Callable[[Settings], int]) -> int:
    settings = get_settings()
    host = settings.firestore_emulator_host
    try:
        if host:  # the libraries retry a dead emulator for minutes: fail fast instead
            httpx.get(f"http://{host}/", timeout=2.0, trust_env=False)
        with firestore_errors():
            return action(settings)
    except httpx.HTTPError:
        print(f"aiexec keys: the Firestore emulator at {host} does not answer", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ServiceUnreachableError as error:
        print(f"aiexec keys: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except PepperMissingError as error:
        print(f"aiexec keys: {error}", file=sys.stderr)
        return EXIT_USAGE


def cmd_create(args: argparse.Namespace) -> int:
    rate = None if args.rate.strip().lower() == "none" else args.rate
    try:
        if rate is not None:
            Limit.of(rate, args.burst)
        if args.monthly_budget_usd is not None and args.monthly_budget_usd < 0:
            raise ValueError("--monthly-budget-usd must not be negative")
    except ValueError as error:
        print(f"aiexec keys create: {error}", file=sys.stderr)
        return EXIT_USAGE

    def action(settings: Settings) -> int:
        try:
            secret = new_secret()  # signs this client's completion callbacks
            key, record = _store(settings).create(
                args.client,
                rate=rate,
                burst=args.burst,
                monthly_budget_usd=args.monthly_budget_usd,
                callback_secret=secret,
            )
        except ValueError as error:
            print(f"aiexec keys create: {error}", file=sys.stderr)
            return EXIT_USAGE
        if args.json:
            shown = {"key": key, "key_id": record.key_id, "client_id": record.client_id}
            print(json.dumps(shown | {"callback_secret": secret}))
            return EXIT_OK
        print(key)
        print(secret)
        print(
            f"key {record.key_id} for client {record.client_id}: store it now, it cannot be "
            "shown again (Authorization: Bearer <key>, or AIEXEC_API_KEY for aiexec); the "
            "second line is the secret that signs your tasks' callbacks (webhook-signature)",
            file=sys.stderr,
        )
        return EXIT_OK

    return _run(action)


def cmd_list(args: argparse.Namespace) -> int:
    def action(settings: Settings) -> int:
        connect = _connect(settings)
        budgets = Budgets(settings, connect)
        rows = [_row(doc, budgets) for doc in KeyStore(settings, connect).list_keys()]
        if args.json:
            print(json.dumps(rows))
            return EXIT_OK
        print_table(_COLUMNS, [[row[c] for c in _COLUMNS] for row in rows], right=_NUMBERS)
        return EXIT_OK

    return _run(action)


def _row(doc: dict[str, Any], budgets: Budgets) -> dict[str, Any]:
    """One key; `month_usd` = the client's committed spend this month (settled + reserved)."""
    client_id = str(doc.get("client_id"))
    committed, _open = budgets.committed(client_id)
    return {
        "key_id": doc.get("key_id"),
        "client_id": client_id,
        "status": "revoked" if doc.get("revoked") else "active",
        "rate": doc.get("rate") or "none",
        "burst": doc.get("burst") if doc.get("burst") is not None else "-",
        "budget_usd": doc.get("monthly_budget_usd")
        if doc.get("monthly_budget_usd") is not None
        else "none",
        "month_usd": round(committed / NANOS_PER_USD, 6),
        "hint": doc.get("hint", ""),
    }


def cmd_revoke(args: argparse.Namespace) -> int:
    def action(settings: Settings) -> int:
        store = _store(settings)
        if args.client:
            revoked = store.revoke_client(args.client)
        elif str(args.key).startswith("aiexec_"):
            revoked = store.revoke(key=args.key)
        else:
            revoked = store.revoke(key_id=args.key)
        if not revoked:
            print("aiexec keys revoke: no such key", file=sys.stderr)
            return EXIT_FAILED
        for key_id in revoked:
            print(f"revoked {key_id}")
        return EXIT_OK

    return _run(action)

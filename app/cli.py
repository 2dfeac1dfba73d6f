"""The ``nps-beacon`` command. Commands that create things print JSON."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from app import accounts, budget, db, migrations, surveys
from app.db import create_db_engine
from app.models import account_table, admin_table, survey_table, tariff_table
from app.settings import Settings, SettingsError, from_env
from app.signing import Signer

DEMO_EMAIL = "demo@example.com"
DEMO_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")


class CommandError(Exception):
    """A message for the operator; the command exits with status 2."""


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _engine(settings: Settings) -> Engine:
    # An operator's command may wait out a busy server's writes.
    return create_db_engine(settings.db_url, write_wait=db.COMMAND_WRITE_WAIT)


# -- commands ---------------------------------------------------------------


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    migrations.upgrade(settings.db_url)
    print("database is up to date", file=sys.stderr)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level,
        server_header=False,
    )


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    if settings.production:
        raise CommandError("the demo is for development; unset ENVIRONMENT=production")
    migrations.upgrade(settings.db_url)
    engine = _engine(settings)
    password_file = settings.var_dir / "demo_password"
    with db.write(engine) as conn:
        admin = conn.execute(
            select(admin_table.c.account_id).where(admin_table.c.email == DEMO_EMAIL)
        ).first()
        if admin is None:
            password = secrets.token_urlsafe(12)
            account_id = accounts.create_account(conn, "Demo Shop", "free")
            accounts.create_admin(conn, account_id, DEMO_EMAIL, password)
            surveys.create_survey(conn, account_id, name="Shop NPS", kind="nps", allowed_origins=[])
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password)
            password_file.chmod(0o600)
        else:
            account_id = admin.account_id
        survey = conn.execute(
            select(survey_table.c.public_id)
            .where(survey_table.c.account_id == account_id)
            .order_by(survey_table.c.id)
        ).first()
    engine.dispose()
    password = password_file.read_text().strip() if password_file.exists() else "(unchanged)"
    signer = Signer(settings.secret_keys, settings.display_token_max_age)
    base = f"http://{args.host}:{args.port}"
    embed_key = signer.embed_key(survey.public_id) if survey else ""
    print(
        "\nnps-beacon demo\n"
        f"  admin:     {base}/admin  ({DEMO_EMAIL} / {password})\n"
        f"  demo shop: {base}/demo\n"
        f"  link:      {base}/s/{signer.link_key(survey.public_id) if survey else ''}\n"
        f"  snippet:   {surveys.snippet(settings.public_url, embed_key)}\n",
        file=sys.stderr,
        flush=True,
    )
    cmd_serve(settings, args)


def cmd_tariff_list(settings: Settings, args: argparse.Namespace) -> None:
    engine = _engine(settings)
    with db.read(engine) as conn:
        rows = (
            conn.execute(select(tariff_table).order_by(tariff_table.c.monthly_budget))
            .mappings()
            .all()
        )
    _print([dict(row) for row in rows])


def cmd_tariff_set(settings: Settings, args: argparse.Namespace) -> None:
    if args.budget < 0:
        raise CommandError("--budget must be 0 or more")
    engine = _engine(settings)
    table = tariff_table
    values = {
        "code": args.code,
        "name": args.name or args.code.title(),
        "monthly_budget": args.budget,
    }
    with db.write(engine) as conn:
        statement = (
            db.insert(conn, table)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[table.c.code],
                set_={"monthly_budget": args.budget, **({"name": args.name} if args.name else {})},
            )
            .returning(*table.c)
        )
        row = conn.execute(statement).mappings().one()
    _print(dict(row))


def cmd_account_create(settings: Settings, args: argparse.Namespace) -> None:
    engine = _engine(settings)
    with db.write(engine) as conn:
        account_id = accounts.create_account(conn, args.name, args.tariff)
        admin_id = accounts.create_admin(conn, account_id, args.email, args.password)
    _print({"account_id": account_id, "admin_id": admin_id, "tariff": args.tariff})


def cmd_account_tariff(settings: Settings, args: argparse.Namespace) -> None:
    """Upgrades apply at once; downgrades from the next period."""
    engine = _engine(settings)
    period = budget.period_of(datetime.now(UTC), settings.zone)
    with db.write(engine) as conn:
        if args.cancel_pending:
            budget.cancel_pending(conn, args.account)
            state = budget.tariff_state(conn, args.account, period)
        elif args.tariff:
            state = budget.change_tariff(conn, args.account, args.tariff, period)
        else:
            state = budget.tariff_state(conn, args.account, period)
    _print(
        {
            "account_id": args.account,
            "tariff": state.code,
            "budget": state.budget,
            "pending_tariff": state.pending_code,
            "pending_from": state.pending_from,
        }
    )


def cmd_admin_create(settings: Settings, args: argparse.Namespace) -> None:
    engine = _engine(settings)
    with db.write(engine) as conn:
        admin_id = accounts.create_admin(conn, args.account, args.email, args.password)
    _print({"account_id": args.account, "admin_id": admin_id})


def cmd_survey_create(settings: Settings, args: argparse.Namespace) -> None:
    engine = _engine(settings)
    texts = {
        args.language or "en": {
            "question": args.question,
            "low_label": args.low_label,
            "high_label": args.high_label,
        }
    }
    with db.write(engine) as conn:
        exists = conn.execute(
            select(account_table.c.id).where(account_table.c.id == args.account)
        ).first()
        if exists is None:
            raise CommandError(f"no account with id {args.account}")
        survey_id, public_id = surveys.create_survey(
            conn,
            args.account,
            name=args.name or args.question[:60],
            kind=args.kind,
            language=args.language or "auto",
            texts=texts,
            allowed_origins=args.origin,
        )
    signer = Signer(settings.secret_keys, settings.display_token_max_age)
    embed_key = signer.embed_key(public_id)
    _print(
        {
            "survey_id": survey_id,
            "embed_key": embed_key,
            "link_url": f"{settings.public_url}/s/{signer.link_key(public_id)}",
            "snippet": surveys.snippet(settings.public_url, embed_key),
        }
    )


# -- parsing ----------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nps-beacon", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    for name, run, help_text in (
        ("serve", cmd_serve, "run the web server"),
        ("demo", cmd_demo, "migrate, seed a demo account, serve"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
        sub.add_argument("--workers", type=int, default=1)
        sub.set_defaults(run=run)

    tariff = commands.add_parser("tariff", help="list or change tariffs").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    tariff.add_parser("list", help="print the tariffs").set_defaults(run=cmd_tariff_list)
    tariff_set = tariff.add_parser("set", help="create or change a tariff")
    tariff_set.add_argument("--code", required=True)
    tariff_set.add_argument("--name")
    tariff_set.add_argument("--budget", type=int, required=True)
    tariff_set.set_defaults(run=cmd_tariff_set)

    account = commands.add_parser("account", help="manage accounts").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    create = account.add_parser("create", help="create an account and its first admin")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--tariff", default="free")
    create.set_defaults(run=cmd_account_create)

    tariff_of = account.add_parser("tariff", help="show or change an account's tariff")
    tariff_of.add_argument("--account", type=int, required=True)
    change = tariff_of.add_mutually_exclusive_group()
    change.add_argument("--tariff", help="upgrade now or downgrade from the next period")
    change.add_argument(
        "--cancel-pending", action="store_true", help="drop a downgrade that has not begun"
    )
    tariff_of.set_defaults(run=cmd_account_tariff)

    admin = commands.add_parser("admin", help="manage admins").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    admin_create = admin.add_parser("create", help="add an admin to an account")
    admin_create.add_argument("--account", type=int, required=True)
    admin_create.add_argument("--email", required=True)
    admin_create.add_argument("--password", required=True)
    admin_create.set_defaults(run=cmd_admin_create)

    survey = commands.add_parser("survey", help="manage surveys").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    survey_create = survey.add_parser("create", help="create a survey")
    survey_create.add_argument("--account", type=int, required=True)
    survey_create.add_argument("--kind", choices=surveys.KINDS, required=True)
    survey_create.add_argument("--question", required=True)
    survey_create.add_argument("--name")
    survey_create.add_argument("--low-label")
    survey_create.add_argument("--high-label")
    survey_create.add_argument(
        "--origin", action="append", default=[], help="allowed origin (repeatable); none means any"
    )
    survey_create.add_argument("--language", choices=surveys.LANGUAGES)
    survey_create.set_defaults(run=cmd_survey_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run: Callable[[Settings, argparse.Namespace], None] = args.run
    try:
        run(from_env(), args)
    except (
        CommandError,
        SettingsError,
        accounts.AccountError,
        surveys.SurveyError,
        budget.UnknownTariff,
        budget.UnknownAccount,
    ) as exc:
        print(f"nps-beacon: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

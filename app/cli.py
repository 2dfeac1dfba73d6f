"""The ``nps-beacon`` command. Commands that create things print JSON."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from app import demo, migrations
from app.accounts import accounts, api_keys
from app.accounts import sessions as admin_sessions
from app.budget import rule as budget
from app.budget import tariffs
from app.platform import backups, db, i18n, logs, urls
from app.platform.db import create_db_engine
from app.platform.settings import Settings, SettingsError, from_env
from app.platform.signing import Signer
from app.privacy import erasure
from app.surveys import model as surveys
from app.surveys import scales

# A made-up password: 16 characters of base64url, 96 bits.
PASSWORD_BYTES = 12


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


def _sends_in_process(settings: Settings, args: argparse.Namespace) -> bool:
    """Development without SMTP_URL sends to the outbox from the web command
    itself; with SMTP_URL, and always in production, the worker sends."""
    return not settings.production and settings.smtp is None and not args.no_sender


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    background = None
    if _sends_in_process(settings, args):
        # Imported here, so a server that sends nothing never loads the sender.
        from app import worker

        sender = worker.sender_for(settings, _engine(settings), _urls(settings))
        background = worker.Background(sender).start()
    try:
        uvicorn.run(
            "app.main:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_level=settings.log_level,
            log_config=logs.dict_config(settings.log_level, settings.log_format == "json"),
            # With JSON the app writes its own line per request, with the id.
            access_log=settings.log_format != "json",
            server_header=False,
        )
    finally:
        if background is not None:
            background.stop()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    if settings.production and settings.smtp is None:
        raise CommandError("the worker needs SMTP_URL when ENVIRONMENT=production")
    # Only the commands that send load the sender (and httpx).
    from app import worker

    summary = worker.main(settings, _engine(settings), _urls(settings), once=args.once)
    if summary is not None:
        _print(summary)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    if settings.production:
        raise CommandError("the demo is for development; unset ENVIRONMENT=production")
    # Only the commands that send load the sender (and httpx).
    from app import worker
    from app.invitations import delivery

    migrations.upgrade(settings.db_url)
    engine = _engine(settings)
    seeded = demo.seed(engine, settings.var_dir, settings.zone)
    invitation = "sent by `nps-beacon worker`"
    if settings.smtp is not None:
        invitation += " through SMTP_URL"
    elif _sends_in_process(settings, args):
        # Sent now rather than by the background sender, so the file is there
        # when its path is printed.
        worker.run_pass(worker.sender_for(settings, engine, _urls(settings)))
        invitation = "(none)"
        if seeded.invitation_id is not None:
            outbox = settings.var_dir / "outbox"
            path = delivery.outbox_path(outbox, _urls(settings), seeded.invitation_id)
            invitation = str(path.absolute()) if path.exists() else "(not sent yet)"
    engine.dispose()
    link_url = snippet = ""
    base = f"http://{args.host}:{args.port}"
    if seeded.public_id is not None:
        links = _urls(settings)
        link_url = base + urls.link_path(links.signer.link_key(seeded.public_id))
        snippet = links.snippet(seeded.public_id)
    print(
        "\nnps-beacon demo\n"
        f"  admin:     {base}/admin  ({demo.EMAIL} / {seeded.password or '(unchanged)'})\n"
        f"  demo shop: {base}/demo\n"
        f"  link:      {link_url}\n"
        f"  snippet:   {snippet}\n"
        f"  e-mail:    {invitation}\n",
        file=sys.stderr,
        flush=True,
    )
    cmd_serve(settings, args)


def cmd_backup(settings: Settings, args: argparse.Namespace) -> None:
    try:
        made = backups.backup_sqlite(settings.db_url, Path(args.path))
    except backups.BackupError as error:
        raise CommandError(str(error)) from error
    _print({"path": str(made.path), "bytes": made.bytes, "pages": made.pages})


def cmd_erase(settings: Settings, args: argparse.Namespace) -> None:
    engine = _engine(settings)
    with db.read(engine) as conn:
        if not accounts.exists(conn, args.account):
            raise CommandError(f"no account with id {args.account}")
    outbox = settings.var_dir / "outbox"
    erased = erasure.erase(engine, args.account, args.email, outbox)
    _print({"account_id": args.account, **erased.as_dict()})


def cmd_retention(settings: Settings, args: argparse.Namespace) -> None:
    months = settings.retention_months if args.months is None else args.months
    if months <= 0:
        raise CommandError("no retention period: set RETENTION_MONTHS or pass --months")
    done = erasure.apply_retention(_engine(settings), months, datetime.now(UTC))
    _print({"months": months, **done.as_dict()})


def cmd_tariff_list(settings: Settings, args: argparse.Namespace) -> None:
    with db.read(_engine(settings)) as conn:
        _print(tariffs.list_tariffs(conn))


def cmd_tariff_set(settings: Settings, args: argparse.Namespace) -> None:
    if args.budget < 0:
        raise CommandError("--budget must be 0 or more")
    with db.write(_engine(settings)) as conn:
        _print(tariffs.set_tariff(conn, args.code, args.budget, args.name))


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
            tariffs.cancel_pending(conn, args.account)
            state = tariffs.tariff_state(conn, args.account, period)
        elif args.tariff:
            state = tariffs.change_tariff(conn, args.account, args.tariff, period)
        else:
            state = tariffs.tariff_state(conn, args.account, period)
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


def cmd_admin_password(settings: Settings, args: argparse.Namespace) -> None:
    """Set a new password (made up when none is given) and log the admin out everywhere."""
    password = args.password or secrets.token_urlsafe(PASSWORD_BYTES)
    admin_id, ended = admin_sessions.reset_password(_engine(settings), args.email, password)
    result: dict[str, Any] = {"admin_id": admin_id, "sessions_ended": ended}
    if not args.password:
        result["password"] = password
    _print(result)


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> None:
    """A key for an integration; the secret is printed this once and never stored."""
    engine = _engine(settings)
    with db.write(engine) as conn:
        if not accounts.exists(conn, args.account):
            raise budget.UnknownAccount(args.account)
        key, secret = api_keys.create(conn, args.account, args.name, datetime.now(UTC))
    _print({"id": key.id, "account_id": args.account, "name": key.name, "key": secret})


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
        if not accounts.exists(conn, args.account):
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
    links = _urls(settings)
    _print(
        {
            "survey_id": survey_id,
            "embed_key": links.embed_key(public_id),
            "link_url": links.link(public_id),
            "snippet": links.snippet(public_id),
        }
    )


def _urls(settings: Settings) -> urls.Urls:
    return urls.Urls(
        settings.public_url, Signer(settings.secret_keys, settings.display_token_max_age)
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
        sub.add_argument(
            "--no-sender",
            action="store_true",
            help="do not send invitations from this process (development without SMTP_URL)",
        )
        sub.set_defaults(run=run)

    worker = commands.add_parser("worker", help="send due invitations, budget alerts and webhooks")
    worker.add_argument(
        "--once", action="store_true", help="send what is due, print a summary and exit"
    )
    worker.set_defaults(run=cmd_worker)

    backup = commands.add_parser(
        "backup", help="copy the SQLite database to a new file while the service runs"
    )
    backup.add_argument("path", help="the new file")
    backup.set_defaults(run=cmd_backup)

    erase = commands.add_parser(
        "erase", help="delete everything an account holds about one e-mail address"
    )
    erase.add_argument("--account", type=int, required=True)
    erase.add_argument("--email", required=True)
    erase.set_defaults(run=cmd_erase)

    retention = commands.add_parser(
        "retention", help="delete comments and recipients' data past the retention period"
    )
    retention.add_argument("--months", type=int, help="instead of RETENTION_MONTHS")
    retention.set_defaults(run=cmd_retention)

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
    admin_password = admin.add_parser(
        "password", help="set an admin's password and end all of their sessions"
    )
    admin_password.add_argument("--email", required=True)
    admin_password.add_argument(
        "--password", help="the new password; made up and printed if absent"
    )
    admin_password.set_defaults(run=cmd_admin_password)

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    apikey_create = apikey.add_parser("create", help="create a key for an integration")
    apikey_create.add_argument("--account", type=int, required=True)
    apikey_create.add_argument("--name", required=True, help="who uses it, e.g. Shop or CRM")
    apikey_create.set_defaults(run=cmd_apikey_create)

    survey = commands.add_parser("survey", help="manage surveys").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    survey_create = survey.add_parser("create", help="create a survey")
    survey_create.add_argument("--account", type=int, required=True)
    survey_create.add_argument("--kind", choices=scales.KINDS, required=True)
    survey_create.add_argument("--question", required=True)
    survey_create.add_argument("--name")
    survey_create.add_argument("--low-label")
    survey_create.add_argument("--high-label")
    survey_create.add_argument(
        "--origin", action="append", default=[], help="allowed origin (repeatable); none means any"
    )
    survey_create.add_argument("--language", choices=i18n.LANGUAGES)
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
        tariffs.UnknownTariff,
        budget.UnknownAccount,
        api_keys.ApiKeyError,
    ) as exc:
        print(f"nps-beacon: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

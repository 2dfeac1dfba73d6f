"""The worker: the e-mail's passes and the webhooks' lane.

The running worker has two lanes: the e-mail's passes (invitations, budget
alerts, the inbox's mail) and the webhook outbox in a thread of its own
(``webhook_delivery.run``), so no receiver delays an invitation, an alert or
an inbox reply. Only the commands that send import this module, and httpx
with it.
"""

from __future__ import annotations

import logging
import logging.config
import signal
import threading

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.budget import rule as budget
from app.budget.alerts import send_alerts
from app.inbox import mail as inbox_mail
from app.invitations import records
from app.invitations.delivery import send_batch
from app.platform import logs, metrics
from app.platform.mail import OutboxTransport, SmtpTransport, Transport
from app.platform.outbox import Sender, Summary
from app.platform.settings import Settings
from app.platform.urls import Urls
from app.privacy import erasure
from app.webhooks import delivery as webhook_delivery
from app.webhooks import lanes

log = logging.getLogger("nps_beacon.delivery")

IDLE = 5.0  # seconds between passes of a running worker


def mail_pass(sender: Sender, stop: threading.Event | None = None) -> Summary:
    """Send the due invitations, batch after batch, then the budget alerts
    (and forget the refused records of ended periods) and the inbox's mail.
    A set ``stop`` ends the pass after the batch in hand, without the rest."""
    summary = Summary()
    while stop is None or not stop.is_set():
        done, claimed = send_batch(sender)
        summary.add(done)
        if claimed < sender.batch_size:
            break
    if stop is None or not stop.is_set():
        summary.alerts = send_alerts(sender)
        records.forget_past_refusals(sender.engine, budget.period_of(sender.clock(), sender.zone))
    if stop is None or not stop.is_set():
        summary.inbox = inbox_mail.run_pass(sender)
    for outcome in ("sent", "retried", "failed", "cancelled"):
        metrics.invitation(outcome, getattr(summary, outcome))
    return summary


def run_pass(sender: Sender, stop: threading.Event | None = None) -> Summary:
    """The e-mail's pass, then the webhook outbox's (with the alerts'
    events): what ``worker --once`` does."""
    summary = mail_pass(sender, stop)
    if stop is None or not stop.is_set():
        hooks = lanes.run_pass(webhook_sender(sender), stop.is_set if stop else None)
        summary.webhooks_delivered = hooks.delivered
        summary.webhooks_retried = hooks.retried
        summary.webhooks_failed = hooks.failed
    return summary


def run(sender: Sender, stop: threading.Event, idle: float = IDLE) -> None:
    """Two lanes until ``stop`` is set: the e-mail's passes in this thread,
    every ``idle`` seconds, and the webhooks' in a thread of their own, so
    no receiver, however slow, holds back an invitation or an alert. A
    database or mail server that is away is waited out: the next pass tries
    again."""
    hooks = threading.Thread(
        target=lanes.run,
        args=(webhook_sender(sender), stop.is_set, idle),
        name="nps-beacon-webhooks",
        daemon=True,
    )
    hooks.start()
    try:
        while not stop.is_set():
            try:
                summary = mail_pass(sender, stop)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("sending paused: %s", exc)
            except Exception:
                # A worker that stops on one bad row sends nothing at all.
                log.exception("sending failed")
            else:
                if summary:
                    log.info("sent %s", summary.as_dict())
            stop.wait(idle)
    finally:
        stop.set()
        # The attempts in flight end within their deadline and are marked.
        hooks.join()


class Background:
    """The sender in a daemon thread of this process (development's ``serve``
    and ``demo`` without SMTP_URL)."""

    def __init__(self, sender: Sender, idle: float = IDLE) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=run, args=(sender, self._stop, idle), name="nps-beacon-sender", daemon=True
        )

    def start(self) -> Background:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Let the batch in hand finish, then end the thread."""
        self._stop.set()
        self._thread.join(timeout)


def webhook_sender(sender: Sender) -> webhook_delivery.WebhookSender:
    """The webhook lane's sender, from the e-mail's."""
    return webhook_delivery.WebhookSender(
        engine=sender.engine,
        transport=sender.transport,
        urls=sender.urls,
        mail_from=sender.mail_from,
        production=sender.production,
        clock=sender.clock,
        timeout=sender.webhook_timeout,
        deadline=sender.webhook_deadline,
    )


def transport_for(settings: Settings) -> Transport:
    """SMTP when ``SMTP_URL`` is set, else files under ``var/outbox/``."""
    if settings.smtp is not None:
        return SmtpTransport(settings.smtp, deadline=settings.smtp_deadline)
    return OutboxTransport(settings.var_dir / "outbox")


def sender_for(settings: Settings, engine: Engine, urls: Urls) -> Sender:
    return Sender(
        engine=engine,
        transport=transport_for(settings),
        urls=urls,
        mail_from=settings.mail_from,
        zone=settings.zone,
        production=settings.production,
        webhook_deadline=settings.webhook_deadline,
    )


def main(settings: Settings, engine: Engine, urls: Urls, once: bool) -> dict[str, int] | None:
    """``nps-beacon worker``: one pass and its summary with ``once``, else
    passes until SIGTERM or SIGINT."""
    logging.config.dictConfig(logs.dict_config(settings.log_level, settings.log_format == "json"))
    if settings.metrics:
        # The web server's /metrics adds up this process's figures too.
        metrics.enable(settings.metrics_path)
    sender = sender_for(settings, engine, urls)
    if once:
        return run_pass(sender).as_dict()
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        # The batch in hand is sent and marked; then the loop ends.
        signal.signal(number, lambda *_: stop.set())
    where = "SMTP" if settings.smtp is not None else f"the outbox {settings.var_dir / 'outbox'}"
    logging.getLogger("nps_beacon").info("worker started, sending through %s", where)
    erasure.keep_retention(engine, settings.retention_months, stop)
    run(sender, stop)
    return None

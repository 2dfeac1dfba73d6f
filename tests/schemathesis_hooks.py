"""Hooks for the schemathesis command line run in tests/test_openapi.py
(loaded through SCHEMATHESIS_HOOKS): real values where a schema cannot say
what the server takes. The run's facts arrive as JSON in NPS_BEACON_FUZZ."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import schemathesis

from app.invitations.record_in import ID_MAX
from app.platform.signing import Signer
from tests.conftest import SECRET

FACTS: dict[str, Any] = json.loads(os.environ.get("NPS_BEACON_FUZZ", "{}"))
SIGNER = Signer((SECRET,), 3600)


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """A well-formed value stays well-formed and a malformed one malformed:
    only values the schema takes are replaced by real ones."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and "embed_key" in (case.path_parameters or {}):
        case.path_parameters["embed_key"] = FACTS["embed_key"]
    body = case.body if isinstance(case.body, dict) else {}
    token = body.get("display_token")
    if isinstance(token, str) and token:
        # A fresh display: its signature is real, and its first submission needs a score.
        body["display_token"] = SIGNER.display_token(FACTS["shop_survey_id"], "widget")
        if positive:
            body.pop("answers", None)  # the survey asks no follow-up questions
            if body.get("score") is None:
                body["score"] = 7
    items = body.get("records") if "records" in body else [body]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        survey_id = item.get("survey_id")
        if type(survey_id) is int and 0 < survey_id <= ID_MAX:
            item["survey_id"] = FACTS["crm_survey_id"]
        # No schema can say "within a year from now": a later year's day becomes today.
        moment = item.get("event_at")
        if isinstance(moment, str) and moment[:4].isdigit() and moment[4:5] == "-":
            today = datetime.now(UTC).date()
            if int(moment[:4]) > today.year:
                item["event_at"] = today.isoformat() + moment[10:]

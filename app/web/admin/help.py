"""Help pages: why a widget does not show. With ``?survey=ID`` of one of the
account's surveys, the page adds that survey's own settings and the name of
its entry in the browser's storage."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.accounts.preferences import Admin
from app.editor import form as survey_form
from app.editor import store as admin_store
from app.web.admin.render import ctx, render

# The widget's local storage entries are named this, then the embed key
# (widget/src/memory.js).
STORAGE_PREFIX = "npsBeacon:"
# Clears every survey's entry on the page's origin, whatever key its snippet has.
RESET = (
    "Object.keys(localStorage).filter((k) => k.startsWith('npsBeacon:'))"
    ".forEach((k) => localStorage.removeItem(k))"
)
# What the widget writes to the console (widget/src/why.js), as examples.
CONSOLE = (
    "nps-beacon: this survey does not accept answers from http://127.0.0.1:8090 "
    "(allowed origins are set in the survey's settings)\n"
    "nps-beacon: not shown on https://shop.example: budget_exhausted\n"
    "nps-beacon: not shown on https://shop.example: inactive"
)


def widget_help(request: Request, admin: Admin) -> Response:
    wanted = request.query_params.get("survey", "")
    # Another account's survey id shows the general page, like no id at all.
    survey = (
        admin_store.get_survey(ctx(request).engine, admin.account_id, int(wanted))
        if wanted.isdigit() and len(wanted) < 12
        else None
    )
    settings = survey_form.from_survey(survey).fields if survey is not None else None
    entry = STORAGE_PREFIX + ctx(request).urls.embed_key(survey.public_id) if survey else None
    return render(
        request,
        admin,
        "help_widget.html",
        survey=survey,
        settings=settings,
        entry=entry,
        reset=RESET,
        console=CONSOLE,
    )

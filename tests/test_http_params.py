"""Query parameters read by app/web/http.py, on bare requests."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from starlette.requests import Request

from app.web import http
from app.web.problem import Problem

CURRENT = "2026-05"


def request(query: str = "", **params: str) -> Request:
    query = query or urlencode(params)
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": query.encode(),
            "headers": [],
        }
    )


@pytest.mark.parametrize(
    ("query", "period"),
    [
        ("", CURRENT),
        ("period=2026-06", "2026-06"),
        ("period=2000-01", "2000-01"),  # the oldest month data can be from
        ("period=2027-12", "2027-12"),  # the end of the year after the current one
    ],
)
def test_period_param_takes_a_month_data_can_fall_in(query: str, period: str) -> None:
    assert http.period_param(request(query), CURRENT) == period


@pytest.mark.parametrize(
    "value",
    [
        "May",
        "2026-5",
        "2026-13",
        "2026-00",
        "26-05",
        "2026-05-01",
        "2026-05\n",
        "\uff12\uff10\uff12\uff16-05",
    ],
)
def test_period_param_refuses_what_is_not_a_month(value: str) -> None:
    with pytest.raises(Problem) as refused:
        http.period_param(request(period=value), CURRENT)
    assert (refused.value.status, refused.value.code) == (400, "invalid_period")
    assert refused.value.detail == "The period must look like 2026-05."


@pytest.mark.parametrize("value", ["1999-12", "0000-01", "2028-01", "9999-12"])
def test_period_param_names_the_months_to_choose_from(value: str) -> None:
    with pytest.raises(Problem) as refused:
        http.period_param(request(period=value), CURRENT)
    assert refused.value.status == 400
    assert refused.value.detail == (
        f"There is no data for {value}. Choose a month from 2000-01 to 2027-12."
    )


def test_period_param_reads_the_name_it_is_given() -> None:
    assert http.period_param(request("period=2026-01&month=2026-02"), CURRENT, "month") == "2026-02"
    assert http.period_param(request("period=2026-01"), CURRENT, "month") == CURRENT


@pytest.mark.parametrize(
    ("query", "page"),
    [("", 1), ("page=3", 3), ("page=0", 1), ("page=-2", 1), ("page=abc", 1), ("page=99999999", 1)],
)
def test_page_number_is_a_positive_number_or_the_first_page(query: str, page: int) -> None:
    assert http.page_number(request(query)) == page

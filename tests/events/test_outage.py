"""Redis killed and restarted EMPTY while a base filter changes (issue 7 acceptance).

Three gateway processes share a Redis the test starts itself. While it is down, the filter changes
through the first process: the write commits, its event is lost for good. Two threads read the
chart through the second and third processes the whole time. Whatever moment an answer falls in:

- a process that has noticed the outage refuses every request with 503 and no rows until Redis is
  back (it cannot know what it missed);
- a 200 answer carries the rows of a filter that was current at some moment between the request
  being sent and answered: the old one if it was answered before the change was sent, the new one
  if it was sent after the change returned, either one if the two overlap;
- after Redis is back both processes serve again, with the new filter.

A fourth process started while Redis is down refuses too, until it has synchronised once Redis is back.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.dataplane.conftest import CHART_DATA, DataGateway, Engine, refused, rows_of
from tests.events.conftest import expected_revenue, revenue_request, start_trio
from tests.support.guests import Servers, redis_prefix
from tests.support.services import PostgresDatabases, ThrowAwayRedis


@dataclass(frozen=True)
class Answer:
    gateway: str
    sent: float
    received: float
    response: httpx.Response


class Hammer(threading.Thread):
    """Reads the chart through one gateway as fast as it answers, recording every answer."""

    def __init__(self, gw: DataGateway, token: str, chart_id: Any) -> None:
        super().__init__(daemon=True)
        self.gw, self.token, self.chart_id = gw, token, chart_id
        self.answers: list[Answer] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.gw.url, timeout=10) as client:
            while not self.stopping.is_set():
                sent = time.monotonic()
                try:
                    response = client.post(CHART_DATA, json={"chart_id": self.chart_id}, headers=headers)
                except httpx.TransportError:
                    # A connection cut while Redis goes away: no rows were served; the client reconnects.
                    continue
                self.answers.append(Answer(self.gw.url, sent, time.monotonic(), response))

    def served_since(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.sent > moment and a.response.status_code == 200]


def first_refusal(gw: DataGateway, token: str, chart_id: Any) -> float:
    """When `gw` first answers 503 (the moment that request was sent); fails after 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sent = time.monotonic()
        response = gw.chart_data(token, {"chart_id": chart_id}, timeout=10)
        if response.status_code == 503:
            return sent
        time.sleep(0.02)
    raise AssertionError(f"{gw.url} kept serving with Redis down")


def test_no_answer_uses_a_stale_filter_across_a_redis_restart(
    servers: Servers, duckdb_engine: Engine, postgres_databases: PostgresDatabases, own_redis: ThrowAwayRedis
) -> None:
    trio = start_trio(
        servers, duckdb_engine, postgres_databases.create(), redis_url=own_redis.url, prefix=redis_prefix()
    )
    tenant = trio.onboard("Europe")
    token = trio.first.guest(tenant)
    chart_id = tenant.chart("Revenue by region")
    old, new = expected_revenue(trio.engine, "Europe"), expected_revenue(trio.engine, "Asia Pacific")
    assert old != new
    for gw in trio.gateways:
        assert rows_of(revenue_request(gw, token, tenant)) == old

    hammers = [Hammer(gw, token, chart_id) for gw in trio.others]
    for hammer in hammers:
        hammer.start()
    try:
        time.sleep(0.3)
        own_redis.stop()
        noticed = {gw.url: first_refusal(gw, token, chart_id) for gw in trio.others}
        change_sent = time.monotonic()
        trio.set_region(tenant, "Asia Pacific")  # committed; its event cannot be published
        change_done = time.monotonic()
        # A fourth process started now has never been in sync: it must not serve either.
        late = servers.start(
            DataGateway,
            database_url=trio.first.database_url,
            redis_url=own_redis.url,
            prefix=trio.first.redis_prefix,
        )
        for _ in range(3):
            refused(revenue_request(late, token, tenant), 503, "revocation_unavailable")
        restarted = time.monotonic()
        own_redis.start()  # same port, empty
        deadline = time.monotonic() + 20
        while not all(h.served_since(restarted) for h in hammers) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        for hammer in hammers:
            hammer.stopping.set()
        for hammer in hammers:
            hammer.join(timeout=15)

    for hammer in hammers:
        answers = hammer.answers
        down = [a for a in answers if a.sent >= noticed[a.gateway] and a.received <= restarted]
        assert down, f"{hammer.gw.url}: no request made while Redis was down"
        for answer in down:
            refused(answer.response, 503)
        for answer in answers:
            status = answer.response.status_code
            if status != 200:
                # Around the kill, a request already past its token check fails at the caches: 503 too.
                refused(answer.response, 503)
                continue
            rows = rows_of(answer.response)
            if answer.received < change_sent:
                assert rows == old
            elif answer.sent > change_done:
                assert rows == new, f"{answer.gateway} served the old filter after the change"
            else:
                assert rows in (old, new)
        back = hammer.served_since(restarted)
        assert back, f"{hammer.gw.url} never served again after Redis came back"
        assert rows_of(back[-1].response) == new

    deadline = time.monotonic() + 20
    while (
        response := revenue_request(late, token, tenant)
    ).status_code != 200 and time.monotonic() < deadline:
        refused(response, 503)
        time.sleep(0.1)
    assert rows_of(response) == new

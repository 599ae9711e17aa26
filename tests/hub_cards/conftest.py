"""Fixtures of the Hub tests: a Hub-compatible server on 127.0.0.1 and client processes against it."""

from __future__ import annotations

import pytest
from hub_testing import ALICE_READ_TOKEN, TOKENS, hub_server, run_client_process


@pytest.fixture
def hub(tmp_path):
    """A running Hub-compatible server with users alice and bob; fails the test if the client called
    a route the server does not implement."""
    server = hub_server.HubServer(tmp_path / "hub-repos", tokens=TOKENS, read_only_tokens={ALICE_READ_TOKEN})
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.unknown_requests == [], f"the client called routes the test Hub lacks: {server.unknown_requests}"


@pytest.fixture
def run_client(hub, tmp_path):
    """`run_client(action, spec, token=None, isolated=False)`: run `hub_client.py ACTION` in a fresh
    process against the test Hub, with an empty cache, and return the JSON results it wrote."""
    counter = iter(range(1000))

    def run(action: str, spec: dict, token: str | None = None, isolated: bool = False) -> dict:
        work = tmp_path / f"client-{next(counter)}-{action}"
        return run_client_process(hub, work, action, spec, token=token, isolated=isolated)

    return run

"""Shared fixtures: a real sandbox server on a free loopback port."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import pytest

from importer.sandbox import RunningSandbox, SandboxConfig, serve_in_thread

TEST_TOKEN = "test-token"


def sandbox_config(**overrides: Any) -> SandboxConfig:
    """The tests' default sandbox config (token "test-token", quiet), with overrides."""
    base = SandboxConfig(tokens=(TEST_TOKEN,), log_requests=False)
    return replace(base, **overrides)


def serve_sandbox(**overrides: Any) -> AbstractContextManager[RunningSandbox]:
    """`with serve_sandbox(rate_limit=3) as running:` — for tests that start several."""
    return serve_in_thread(sandbox_config(**overrides))


def import_id_counts(running: RunningSandbox, token: str = TEST_TOKEN) -> Counter[str]:
    """How many leads the sandbox's own store holds per `import_id`: 1 each is exactly once."""
    counts: Counter[str] = Counter()
    for lead in running.sandbox.store.leads(token):
        for entry in lead.get("data") or []:
            if entry["key"] == "import_id":
                counts[entry["value"]] += 1
    return counts


@pytest.fixture(autouse=True)
def own_config_and_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    """No test reads the machine's own wedocod.toml or writes to its state folder."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("WEDOCOD_CONFIG", raising=False)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A sandbox with the default config, served for one test."""
    with serve_in_thread(sandbox_config()) as running:
        yield running


@pytest.fixture
def make_sandbox() -> Callable[..., AbstractContextManager[RunningSandbox]]:
    """`with make_sandbox(rate_limit=3, ...) as running:` — a sandbox with config overrides."""

    return serve_sandbox

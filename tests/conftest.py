"""Shared fixtures: a real sandbox server on a free loopback port."""

from __future__ import annotations

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


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A sandbox with the default config, served for one test."""
    with serve_in_thread(sandbox_config()) as running:
        yield running


@pytest.fixture
def make_sandbox() -> Callable[..., AbstractContextManager[RunningSandbox]]:
    """`with make_sandbox(rate_limit=3, ...) as running:` — a sandbox with config overrides."""

    def make(**overrides: Any) -> AbstractContextManager[RunningSandbox]:
        return serve_in_thread(sandbox_config(**overrides))

    return make

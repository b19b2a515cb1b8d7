"""Integration fixtures: a real Docker engine, the real images and a real replica.

Without Docker these tests skip on a workstation and fail when CI is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from harness.config.target import Target, find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, Images, ensure_images
from harness.environment.replica import Replica, Staging, connect, new_run_id
from harness.errors import DockerUnavailable

# The modules whose tests take minutes, longest first. They start first, so that under
# `pytest -n` the last tests to finish are short ones and no worker waits at the end.
LONGEST_FIRST = ("test_plans.py", "test_wagtail.py", "test_drain_and_detection.py", "test_killswitch.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.docker)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def staging() -> Staging:
    try:
        client = connect()
    except DockerUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and Docker is unavailable: {exc}")
        pytest.skip(f"Docker is unavailable: {exc}")
    return Staging(client, say=lambda m: print(f"gameday: {m}"))


@pytest.fixture(scope="session")
def shop() -> Target:
    return find_target("shop")


@pytest.fixture(scope="session")
def images(staging: Staging, shop: Target) -> Images:
    # Under `pytest -n`, one worker builds while the others wait (ensure_images locks).
    return ensure_images(staging.client, shop, os.environ.get("BASE_IMAGE", DEFAULT_BASE_IMAGE), staging.say)


@pytest.fixture
def replica(staging: Staging, shop: Target, images: Images, request: pytest.FixtureRequest) -> Iterator[Replica]:
    """A fresh replica with v1 deployed, removed after the test."""
    run_id = new_run_id(f"test-{request.node.name[:30]}", datetime.now(UTC))
    made = staging.create(shop, images, run_id, "test")
    try:
        staging.deploy_tool_checked(made, ["deploy", shop.first_release])
        yield made
    finally:
        staging.remove(run_id)
    assert staging.run_ids().count(run_id) == 0

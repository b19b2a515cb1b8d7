"""The reset of a reused replica is proven from what the web host and the database show,
and a replica whose reset is not proven is reported, not used."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from harness.config.target import DeployCommands, find_target
from harness.environment import pool
from harness.environment.replica import Replica

PRISTINE = {"listing": "d .\nd ./releases\nd ./shared\nf ./shared/.env\n",
            "schema": "CREATE TABLE public.flags (name text);\n"}


@dataclass
class FakeStaging:
    """The web host's answers after the reset commands ran: `listing`, `schema`, `left`."""

    listing: str = PRISTINE["listing"]
    schema: str = PRISTINE["schema"]
    left: str = ""
    files: dict[str, str] = field(default_factory=lambda: {pool.PRISTINE_FACTS: json.dumps(PRISTINE)})
    ran: list[Any] = field(default_factory=list)

    def exec(self, container: str, argv: list[str]) -> str:
        self.ran.append(argv)
        script = argv[-1]
        if script == pool.LISTING:
            return self.listing
        if script == pool.SCHEMA:
            return self.schema
        if script == pool.APP_PROCESSES:
            return self.left
        return ""

    def sql(self, replica: Replica, database: str, query: str) -> list[list[str]]:
        self.ran.append(query)
        return []

    def read_file(self, replica: Replica, path: str) -> str:
        return self.files.get(path, "")


REPLICA = Replica(run_id="pool-1", scenario="nightly-pool", target="shop", web="w", db="d", url="http://127.0.0.1:1",
                  db_port=None, ssh_port=None, labels={})


def reset(staging: FakeStaging) -> list[str]:
    return pool.reset(staging, REPLICA, find_target("shop"))  # type: ignore[arg-type]


def test_a_reset_that_matches_the_snapshot_is_proven_and_recreates_the_database():
    staging = FakeStaging()
    assert reset(staging) == []
    assert 'DROP DATABASE IF EXISTS "shop" WITH (FORCE)' in staging.ran
    assert f'CREATE DATABASE "shop" TEMPLATE {pool.PRISTINE_DATABASE}' in staging.ran


def test_each_difference_from_the_snapshot_is_named():
    staging = FakeStaging(listing=PRISTINE["listing"] + "f ./shared/deploy.lock/owner.json\n",
                          schema=PRISTINE["schema"] + "CREATE INDEX orders_created_idx ON public.orders (x);\n",
                          left="412\n")
    problems = reset(staging)
    assert len(problems) == 3
    assert "f ./shared/deploy.lock/owner.json" in problems[0]
    assert "index orders_created_idx" in problems[1]
    assert problems[2] == "app processes still run: 412"


def test_a_replica_without_a_snapshot_is_not_reset():
    staging = FakeStaging(files={})
    assert reset(staging) == ["pool-1 has no snapshot to reset to"]
    assert staging.ran == []


def test_only_the_built_in_tools_replicas_are_reused():
    shop = find_target("shop")
    assert pool.reusable(shop)
    team = dataclasses.replace(shop, deploy=DeployCommands(tool="commands", deploy="true {release}", rollback="true"))
    assert not pool.reusable(team)

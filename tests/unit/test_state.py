"""gameday's state directory: a run id is claimed once on the machine, held by its owner,
and never names anything outside the directory."""

from __future__ import annotations

import os
import threading

import pytest

from harness.environment import state
from harness.errors import HarnessError

BASE = "20261128T101500Z-clean-deploy"


def test_runs_claimed_at_once_get_ids_of_their_own():
    found: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        run_id = state.claim(BASE, state.REHEARSAL)
        with lock:
            found.append(run_id)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found) == sorted([BASE] + [f"{BASE}-{n}" for n in range(2, 9)])
    owner = state.owner_of(BASE)
    assert owner is not None and owner.mine and owner.kind == state.REHEARSAL and owner.uid == os.getuid()


def test_a_claim_the_other_side_refuses_is_let_go():
    taken = {BASE}  # as if another run's reports directory held BASE already
    run_id = state.claim(BASE, state.REHEARSAL, also=lambda candidate: candidate not in taken)
    assert run_id == f"{BASE}-2"
    assert not state.run_directory(BASE).exists()


def test_an_id_another_process_holds_is_refused(tmp_path):
    directory = state.run_directory(BASE)
    directory.mkdir(parents=True)
    (directory / state.OWNER_FILE).write_text(
        '{"pid": 1, "pid_start": 0, "host": "elsewhere", "uid": 0, "kind": "up", "created": 0}')
    with pytest.raises(HarnessError, match="is in use by gameday process 1 on elsewhere"):
        state.hold(BASE, "run")


def test_a_rehearsals_hold_outlives_its_replica_until_it_lets_go():
    state.claim(BASE, state.REHEARSAL)
    state.hold(BASE, "run")  # the replica made for it: the same process
    state.release_unless_rehearsing(BASE)  # the replica removed
    assert state.run_directory(BASE).exists()
    state.release(BASE)
    assert not state.run_directory(BASE).exists()


def test_a_dead_owner_is_gone_and_a_live_one_is_not():
    assert state.Owner.here("run").gone is False
    dead = state.Owner(2**22 + 17, None, state.Owner.here("run").host, os.getuid(), "run", 0.0)
    assert dead.gone is True
    reused = state.Owner(os.getpid(), 1, dead.host, os.getuid(), "run", 0.0)  # this pid, another start
    assert reused.gone is True

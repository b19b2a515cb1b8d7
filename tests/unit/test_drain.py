"""Drain accounting from recorded records and a deploy log: the requests each reload had
in flight, which completed and which were cut. No Docker, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.results.deploylog import DeployStep
from harness.results.drain import drains
from harness.results.records import Record

T0 = 1_800_000_000.0


def reload(began: float, took: float = 0.2, action: str = "deploy") -> DeployStep:
    """A `reload` step that began `began` seconds after T0."""
    ended = datetime.fromtimestamp(T0 + began + took, UTC).isoformat()
    return DeployStep.from_json({"ts": ended, "action": action, "step": "reload", "release": "v2", "ok": True,
                                 "duration_s": took, "detail": "web: HUP"})


def request(start: float, took: float, status: int = 200, name: str = "GET /slow") -> Record:
    return Record(T0 + start, status, took * 1000, status >= 400 or status == 0, name)


def test_each_reload_counts_what_it_had_in_flight_and_what_it_cut():
    records = [
        request(0, 1),                      # over before the reload: not in flight
        request(9, 2),                      # in flight, finished in the graceful timeout
        request(8, 14, status=502),         # in flight, killed 10 s after the reload began
        request(5, 15.1, status=0),         # in flight, its connection reset at the kill
        request(9.5, 1, status=500),        # in flight, failed by the app itself
        request(10.5, 1),                   # started after the reload began: not in flight
        request(30, 1),
    ]
    (drain,) = drains([reload(10)], records, T0, 10)
    assert (drain.action, drain.release, drain.started_s) == ("deploy", "v2", 10.0)
    assert (drain.in_flight, drain.completed, drain.cut, drain.failed_otherwise) == (4, 1, 2, 1)
    assert [(c.ran_s, c.ended_s, c.status) for c in drain.cut_requests] == [(2.0, 12.0, 502), (5.0, 10.1, 0)]
    assert drain.why == ("2 cut 10.1 to 12.0 s after the reload began: each needed longer than the app server's "
                         "graceful timeout (10 s) to finish, and the old workers were killed at its end")


def test_a_reload_that_cut_nothing_says_so_and_without_a_timeout_the_why_is_plainer():
    records = [request(9, 2), request(9.5, 0.8), request(20, 20, status=502)]
    clean, cutting = drains([reload(10), reload(30, action="rollback")], records, T0, None)
    assert clean.cut == 0 and clean.completed == 2 and clean.why == "every request in flight finished"
    assert cutting.action == "rollback" and cutting.cut == 1
    assert cutting.why == "1 cut 10.0 s after the reload began, when the old workers were stopped"


def test_a_cut_well_before_the_graceful_timeout_is_not_blamed_on_it():
    (drain,) = drains([reload(10)], [request(8, 2.5, status=502)], T0, 10)
    assert drain.cut == 1 and drain.why == "1 cut 0.5 s after the reload began, when the old workers were stopped"


def test_reloads_outside_the_load_and_other_steps_are_not_drains():
    records = [request(9, 2)]
    others = [reload(-100), reload(500), DeployStep.from_json({
        "ts": datetime.fromtimestamp(T0 + 10, UTC).isoformat(), "action": "deploy", "step": "swap",
        "release": "v2", "ok": True, "duration_s": 0.01, "detail": ""})]
    assert drains(others, records, T0, 10) == ()
    assert drains([reload(10)], [], T0, 10) == ()


def job(event: str, at: float, job_id: int, worker: str) -> dict[str, object]:
    return {"ts": T0 + at, "event": event, "job": job_id, "worker": worker, "level": "info"}


def test_jobs_in_progress_at_a_reload_are_followed_to_their_end():
    log = [
        job("job_started", 1, 1, "w1"), job("job_done", 2, 1, "w1"),     # done before: not in progress
        job("job_started", 9, 2, "w1"), job("job_done", 10.5, 2, "w1"),  # finished by its own worker
        job("job_started", 9.5, 3, "w1"),                                # killed: taken up again by w2
        job("job_started", 14, 3, "w2"), job("job_done", 15, 3, "w2"),
        job("job_started", 9.8, 4, "w1"),                                # killed, never finished
        job("job_started", 9.9, 5, "w1"), job("job_done", 10.2, 5, "w1"),  # finished, then again by w2
        job("job_started", 14.5, 5, "w2"), job("job_done", 15.5, 5, "w2"),
        job("job_started", 11, 6, "w2"), job("job_done", 11.5, 6, "w2"),  # started after: not in progress
        {"ts": T0 + 9, "event": "request_failed", "status": 500},
    ]
    (drain,) = drains([reload(10)], [request(9, 2)], T0, 10, log)
    assert drain.jobs is not None
    assert (drain.jobs.in_progress, drain.jobs.completed, drain.jobs.requeued, drain.jobs.lost,
            drain.jobs.doubled) == (4, 2, 1, 1, 1)
    (without,) = drains([reload(10)], [request(9, 2)], T0, 10, [])
    assert without.jobs is None

from harness.config.scenario import ErrorRateDetector
from harness.rehearsal.detectors import Alarm, Check, ErrorRate, Poller
from harness.results.records import Record


def req(ts: float, status: int = 200, latency_ms: float = 10.0) -> Record:
    error = "" if status < 400 else f"status {status}"
    return Record(ts, status, latency_ms, status >= 400, "GET /orders", error, "r1")


def test_error_rate_fires_once_when_the_window_goes_bad():
    detector = ErrorRate(ErrorRateDetector(window_s=1.0, threshold=0.5, min_requests=3))
    alarms = [detector.feed(req(t / 50)) for t in range(100)]  # 2 s of good traffic at 50 req/s
    assert alarms == [None] * 100
    bad = [detector.feed(req(2 + t / 50, 500)) for t in range(50)]
    fired = [a for a in bad if a is not None]
    assert len(fired) == 1
    # Fires once half of the last second failed: half a second into the outage.
    assert 2.45 < fired[0].ts < 2.6
    assert fired[0].detector == "error_rate"


def test_error_rate_catches_a_total_outage_within_a_second():
    detector = ErrorRate(ErrorRateDetector(window_s=1.0, threshold=0.2, min_requests=3))
    for t in range(100):
        detector.feed(req(t / 50))
    first_failure = 2.0
    fired = next(a for t in range(50) if (a := detector.feed(req(first_failure + t / 50, 503))) is not None)
    assert fired.ts - first_failure < 1.0


def test_error_rate_needs_min_requests():
    detector = ErrorRate(ErrorRateDetector(window_s=1.0, threshold=0.5, min_requests=5))
    assert [detector.feed(req(t * 0.1, 500)) for t in range(4)] == [None] * 4
    assert detector.feed(req(0.5, 500)) is not None


def test_slow_requests_count_as_failures():
    detector = ErrorRate(ErrorRateDetector(window_s=1.0, threshold=0.5, min_requests=2), latency_limit_s=0.5)
    detector.feed(req(0.0, latency_ms=900))
    assert detector.feed(req(0.1, latency_ms=900)) is not None


def test_error_rate_rearms_after_recovering():
    detector = ErrorRate(ErrorRateDetector(window_s=1.0, threshold=0.5, min_requests=2))
    fired = [detector.feed(req(t / 10, 500 if 10 <= t < 20 or 40 <= t < 50 else 200)) for t in range(60)]
    assert len([a for a in fired if a]) == 2


def test_poller_alarms_after_failures_in_a_row_and_reports_changes():
    results = iter([Check(True, "200"), Check(False, "503"), Check(False, "503"), Check(True, "200")])
    alarms: list[Alarm] = []
    changes: list[tuple[str, bool, str]] = []
    clock = iter([1.0, 2.0, 3.0, 4.0])
    poller = Poller("health", lambda: next(results), 1.0, 2, alarms.append,
                    lambda n, ok, d: changes.append((n, ok, d)), lambda: next(clock))
    for _ in range(4):
        poller.step()
    assert alarms == [Alarm("health", 3.0, "503")]
    assert changes == [("health", True, "200"), ("health", False, "503"), ("health", True, "200")]


def test_a_probe_that_raises_is_the_instrument_failing_not_a_red_probe():
    alarms: list[Alarm] = []
    changes: list[tuple[str, bool, str]] = []
    broken: list[tuple[str, str]] = []
    now = [5.0]
    working = [False]

    def check() -> Check:
        if not working[0]:
            raise OSError("the Docker engine went away\nmore")
        return Check(True, "no pending job")

    poller = Poller("queue_lag", check, 1.0, 1, alarms.append, lambda *a: changes.append(a), lambda: now[0],
                    on_broken=lambda *a: broken.append(a))
    poller.step()
    now[0] = 6.0
    poller.step()
    # Not red, no alarm; one note for the streak, which began at its first failure.
    assert alarms == [] and changes == [] and poller.red_in_a_row == 0
    assert broken == [("queue_lag", "OSError: the Docker engine went away")]
    assert poller.broken_since == 5.0 and poller.broken_detail == "OSError: the Docker engine went away"
    working[0] = True
    assert poller.step().ok is True and poller.broken_since is None


def test_a_failure_the_host_reports_is_red_and_an_engine_that_went_away_is_the_instrument():
    from harness.errors import DockerUnavailable, StagingError

    alarms: list[Alarm] = []
    broken: list[tuple[str, str]] = []
    raised: list[Exception] = [StagingError("psql exited 2", log_tail=["too many clients"])]

    def check() -> Check:
        raise raised[0]

    poller = Poller("queue_lag", check, 1.0, 1, alarms.append, lambda *a: None, lambda: 5.0,
                    on_broken=lambda *a: broken.append(a))
    assert poller.step().ok is False
    assert [a.detail for a in alarms] == ["StagingError: psql exited 2; last lines: too many clients"]
    raised[0] = DockerUnavailable("cannot reach the Docker daemon")
    poller.step()
    assert broken == [("queue_lag", "DockerUnavailable: cannot reach the Docker daemon")] and len(alarms) == 1


def test_a_health_answer_with_any_body_is_the_service_speaking():
    import httpx

    from harness.rehearsal.watch import health_check

    for body, detail in ((b"null", "503"), (b'["down"]', "503"), (b'{"failed": [1, "db"]}', "503 failed 1, db"),
                         (b"not json", "503")):
        transport = httpx.MockTransport(lambda request, body=body: httpx.Response(503, content=body))
        with httpx.Client(base_url="http://127.0.0.1:1", transport=transport) as http:
            assert health_check(http, "/health")() == Check(False, detail)

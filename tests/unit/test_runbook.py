

def test_two_runs_of_one_scenario_in_the_same_second_get_their_own_directories(tmp_path):
    from harness.rehearsal.runbook import claim_run_dir

    first = claim_run_dir(tmp_path / "reports", "20261130T025220Z-start-limit")
    second = claim_run_dir(tmp_path / "reports", "20261130T025220Z-start-limit")
    assert first == ("20261130T025220Z-start-limit", tmp_path / "reports" / "20261130T025220Z-start-limit")
    assert second[0] == "20261130T025220Z-start-limit-2" and second[1].is_dir()

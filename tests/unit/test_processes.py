from harness.environment.systemd import unit_states

SHOW = """\
Id=web.service
LoadState=loaded
ActiveState=failed
SubState=failed
Result=exit-code

Id=worker.service
LoadState=loaded
ActiveState=active
SubState=running
Result=success

Id=nginx.service
LoadState=loaded
ActiveState=activating
SubState=auto-restart
Result=exit-code

Id=ssh.service
LoadState=not-found
ActiveState=inactive
SubState=dead
Result=success
"""


def test_systemd_unit_states_are_in_systemds_words_and_skip_units_not_installed():
    assert unit_states(SHOW) == {
        "web": "failed (Result: exit-code)",
        "worker": "active (running)",
        "nginx": "activating (auto-restart)",
    }


def test_only_an_active_running_unit_counts_as_running():
    from harness.environment.systemd import Systemd

    systemd = Systemd(environment=None)  # type: ignore[arg-type]  # the rules need no host
    assert systemd.running("active (running)")
    assert not systemd.running("activating (auto-restart)") and not systemd.running("failed (Result: exit-code)")
    assert systemd.starting("activating (start)") and not systemd.starting("activating (auto-restart)")
    assert systemd.restart_command(["web", "worker"]) == (
        "systemctl reset-failed web.service worker.service; systemctl restart web.service worker.service")

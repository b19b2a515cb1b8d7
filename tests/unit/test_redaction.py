"""One redaction for every output: URL userinfo, DSN passwords and the values a target
lists as secret are masked wherever they stand."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.target import load_target
from harness.redaction import MASK, keep_secret, redact, redact_text, secrets_of_dsn, secrets_of_url
from harness.results.files import write_json, write_text


@pytest.mark.parametrize(("text", "shown"), [
    ("http://user:hunter22@127.0.0.1:8080/health", f"http://user:{MASK}@127.0.0.1:8080/health"),
    ("GET https://deploy:p%40ss@staging.example/x failed", f"GET https://deploy:{MASK}@staging.example/x failed"),
    ("postgresql://app:s3cret@db:5432/shop", f"postgresql://app:{MASK}@db:5432/shop"),
    ("clone https://ghp_tokenvalue123@git.example/repo.git", f"clone https://{MASK}@git.example/repo.git"),
    ("host=db password=s3cret dbname=shop", f"host=db password={MASK} dbname=shop"),
    ("host=db password='two words' dbname=shop", f"host=db password={MASK} dbname=shop"),
    ("ssh://git@host/repo and git@host:repo", "ssh://git@host/repo and git@host:repo"),  # a user is no secret
    ("http://127.0.0.1:8080 answered 200", "http://127.0.0.1:8080 answered 200"),
])
def test_url_and_dsn_passwords_are_masked_wherever_they_stand(text, shown):
    assert redact_text(text) == shown


def test_a_listed_secret_is_masked_in_strings_and_json_values_but_not_keys():
    keep_secret(["tok-98765-abc", "ab"])  # too short to mask as text: "ab" stays
    data = {"detail": "deployed with tok-98765-abc", "output": ["x tok-98765-abc y", 3, None],
            "tok-98765-abc": True, "n": 1.5, "ab": "abc"}
    assert redact(data) == {"detail": f"deployed with {MASK}", "output": [f"x {MASK} y", 3, None],
                            "tok-98765-abc": True, "n": 1.5, "ab": "abc"}


def test_the_passwords_of_urls_and_dsns_are_found():
    assert secrets_of_url("http://u:p%40ss@h") == ["p%40ss", "p@ss"]
    assert secrets_of_url("http://h:1") == [] and secrets_of_url(None) == []
    assert "pw" in secrets_of_dsn("postgresql://u:pw@h/db")
    assert secrets_of_dsn("host=h password='a b' dbname=x") == ["a b"]


def test_a_targets_secrets_are_its_variables_values_and_its_passwords(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FLY_API_TOKEN", "fly-token-value")
    (tmp_path / "target.toml").write_text(
        'name = "t"\nfirst_release = "v1"\nsecrets = ["FLY_API_TOKEN", "UNSET_ONE"]\n[environment]\n'
        'url = "http://me:url-pass@127.0.0.1:1"\ndsn = "host=x password=dsn-pass"\nreleases = ["v1"]\n'
        '[run]\nhealth_path = "/"\nversion_path = "/version"\n[deploy]\ndeploy = "true"\nrollback = "true"\n')
    target = load_target(tmp_path / "target.toml")
    assert target.secrets == ("FLY_API_TOKEN", "UNSET_ONE")
    assert sorted(set(target.secret_values())) == ["dsn-pass", "fly-token-value", "url-pass"]


def test_every_file_writer_redacts(tmp_path: Path):
    keep_secret(["writer-secret-1"])
    write_json(tmp_path / "a.json", {"url": "http://u:writer-pw@h", "detail": "writer-secret-1"})
    write_text(tmp_path / "b.html", "<p>http://u:writer-pw@h writer-secret-1</p>")
    for name in ("a.json", "b.html"):
        text = (tmp_path / name).read_text()
        assert "writer-pw" not in text and "writer-secret-1" not in text

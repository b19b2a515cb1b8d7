from pathlib import Path

import pytest

from harness.config.target import find_target, load_target
from harness.errors import InputError

SHOP = Path(__file__).parents[2] / "harness" / "targets" / "shop"


def test_the_reference_app_is_a_target():
    shop = find_target("shop")
    assert shop.name == "shop"
    assert shop.first_release == "v1"
    assert {"v1", "v2", "bad-migration", "bad-health", "hung-worker"} <= set(shop.releases)
    assert "{release}" in shop.run.web and "{socket}" in shop.run.web
    assert shop.run.health_path == "/health"


def write_target(tmp_path: Path, text: str) -> Path:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "releases" / "v1").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "target.toml"
    path.write_text(text)
    return path


GOOD = """\
name = "mine"
database = "mine"
first_release = "v1"
[build]
common = "app"
releases = "releases"
[run]
web = "gunicorn --chdir {release} --bind unix:{socket} app:wsgi"
worker = "python3 worker.py"
health_path = "/health"
version_path = "/version"
migrate = "true"
"""


def test_a_teams_own_target_loads(tmp_path):
    target = load_target(write_target(tmp_path, GOOD))
    assert target.name == "mine" and target.releases == ("v1",)
    assert target.run.down_migrate is None


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (GOOD.replace('name = "mine"\n', ""), "name", "is required"),
        (GOOD + 'colour = "blue"\n', "run.colour", "is not a known key"),
        (GOOD.replace('database = "mine"', "database = 3"), "database", "must be a non-empty string"),
        (GOOD.replace('first_release = "v1"', 'first_release = "v9"'), "first_release", "is not one of v1"),
        (GOOD.replace('health_path = "/health"', 'health_path = "health"'), "run.health_path", "must be a URL path"),
        (GOOD.replace("--chdir {release} ", ""), "run.web", "must contain {release}"),
        (GOOD.replace('common = "app"', 'common = "nope"'), "build.common", "is not a directory"),
        (GOOD + '[migrations]\nid_pattern = "^[0-9]+"\n', "migrations.id_pattern", "needs a group"),
        (GOOD + '[migrations]\nid_pattern = "^([0-9]+"\n', "migrations.id_pattern", "is not a regular expression"),
        (GOOD + '[migrations]\nfiles = "../db/*.sql"\n', "migrations.files", "inside a release"),
        (GOOD + '[migrations]\nfile = "db/*.sql"\n', "migrations.file", "is not a known key"),
    ],
)
def test_bad_target_files_name_the_file_and_key(tmp_path, text, key, problem):
    path = write_target(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_target(path)
    assert str(err.value).startswith(f"{path}: {key}: ")
    assert problem in str(err.value)


def test_malformed_toml_names_the_file(tmp_path):
    path = write_target(tmp_path, "name = \n")
    with pytest.raises(InputError, match=f"^{path}: is not valid TOML"):
        load_target(path)


def test_unknown_bundled_target_lists_the_known_ones():
    with pytest.raises(InputError, match="no target 'nope'; bundled targets: shop"):
        find_target("nope")


def test_a_release_builds_on_the_release_its_base_file_names(tmp_path):
    write_target(tmp_path, GOOD)
    releases = tmp_path / "releases"
    (releases / "v2" / "migrations").mkdir(parents=True)
    (releases / "v2" / "migrations" / "002.sql").write_text("two")
    (releases / "v2" / "BASE").write_text("v1\n")
    (releases / "v3").mkdir()
    (releases / "v3" / "BASE").write_text("v2")
    (releases / "v3" / "app.py").write_text("three")
    (releases / "v1" / "app.py").write_text("one")
    target = load_target(tmp_path / "target.toml")
    files = target.source.files("v3")
    assert files["migrations/002.sql"] == b"two" and files["app.py"] == b"three" and "BASE" not in files
    assert target.source.files("v2")["app.py"] == b"one"


@pytest.mark.parametrize(("base", "problem"), [("v9", "names 'v9', which is not a release"),
                                               ("v2", "in a loop")])
def test_a_base_that_is_not_a_release_or_loops_is_refused(tmp_path, base, problem):
    write_target(tmp_path, GOOD)
    (tmp_path / "releases" / "v2").mkdir()
    (tmp_path / "releases" / "v2" / "BASE").write_text(base)
    with pytest.raises(InputError) as caught:
        load_target(tmp_path / "target.toml")
    assert caught.value.key == "build.releases" and problem in caught.value.problem


def test_migrations_say_which_files_and_ids():
    from harness.config.target import Migrations

    migrations = Migrations(files="migrations/*.up.*")
    files = ["migrations/002_add_coupon.up.sql", "migrations/002_add_coupon.down.sql",
             "migrations/003_backfill.up.py", "shop/web.py"]
    assert migrations.paths(files) == ["migrations/002_add_coupon.up.sql", "migrations/003_backfill.up.py"]
    assert migrations.id_of("migrations/002_add_coupon.up.sql") == "002_add_coupon"
    rails = Migrations(files="db/migrate/*.rb", id_pattern=r"^([0-9]+)_")
    assert rails.id_of("db/migrate/20240101120000_add_region.rb") == "20240101120000"
    assert rails.id_of("db/migrate/README") is None

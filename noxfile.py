"""The supported stacks: every tested Django on its lowest and highest Python here, on each database.

    bash scripts/nox -l                                   # list the sessions
    bash scripts/nox -s "tests(dj42-py311-sqlite)"        # run one
    bash scripts/nox -k "dj61"                            # every Django 6.1 session
    bash scripts/nox -t matrix                            # what .ci/run runs

PostgreSQL (127.0.0.1:5432) and MariaDB/MySQL (127.0.0.1:3306) are the machine's servers; their test
databases are test_$IDP_PG_NAME and test_$IDP_MYSQL_NAME (give each checkout its own names on a shared
server). Browser tests are deselected here: they run once, on the default stack (`bash scripts/test`).
Pythons come from PATH or pyenv; virtualenvs are made with uv and kept in .nox/ between runs.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests"]


def _add_pyenv_pythons_to_path() -> None:
    """nox looks for `python3.X` on PATH; pyenv's shims answer only for the active version."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return
    found = sorted(Path(root, "versions").glob("3.*/bin"), reverse=True)
    os.environ["PATH"] = os.pathsep.join([*(str(path) for path in found), os.environ["PATH"]])


_add_pyenv_pythons_to_path()

# (Django, Python, database): Django 4.2 supports Python <= 3.12, Django 6.x needs >= 3.12.
STACKS = [
    ("4.2", "3.11", "sqlite"),
    ("4.2", "3.12", "sqlite"),
    ("4.2", "3.12", "postgres"),
    ("5.2", "3.11", "sqlite"),  # the default stack: `bash scripts/test` runs it in CI, with browser tests
    ("5.2", "3.13", "sqlite"),
    ("5.2", "3.13", "postgres"),
    ("5.2", "3.13", "mysql"),
    ("6.0", "3.12", "sqlite"),
    ("6.0", "3.13", "sqlite"),
    ("6.1", "3.12", "sqlite"),
    ("6.1", "3.13", "sqlite"),
    ("6.1", "3.13", "postgres"),
    ("6.1", "3.13", "mysql"),
]
DEFAULT_STACK = ("5.2", "3.11", "sqlite")
# The lowest stack also gets the lowest DOT and oauthlib that setup.cfg allows; the others get the newest.
LOWEST_STACK = ("4.2", "3.11", "sqlite")
LOWEST_DEPENDENCIES = ["django-oauth-toolkit==3.4.1", "oauthlib==3.3.0"]


def _tags(stack: tuple[str, str, str]) -> list[str]:
    """``matrix``: every stack but the default one; ``lane1``/``lane2`` split them in two halves that
    .ci/run runs side by side (one per core), each with its own test databases."""
    if stack == DEFAULT_STACK:
        return []
    matrix = [s for s in STACKS if s != DEFAULT_STACK]
    return ["matrix", f"lane{matrix.index(stack) % 2 + 1}"]


def _session_id(django: str, python: str, database: str) -> str:
    return f"dj{django.replace('.', '')}-py{python.replace('.', '')}-{database}"


@nox.session
@nox.parametrize(
    ("django", "python", "database"),
    [nox.param(*stack, id=_session_id(*stack), tags=_tags(stack)) for stack in STACKS],
)
def tests(session: nox.Session, django: str, database: str) -> None:
    """The whole suite except the browser tests, on one stack; extra arguments go to pytest."""
    extras = "test,oidc,celery,metrics" + (",mysql" if database == "mysql" else "")
    lowest = (django, session.python, database) == LOWEST_STACK
    session.install("-e", f".[{extras}]", f"Django~={django}.0", *(LOWEST_DEPENDENCIES if lowest else []))
    session.run(
        "python",
        "-c",
        "import django, oauth2_provider, oauthlib; print("
        "'Django', django.get_version(), '| DOT', oauth2_provider.__version__, "
        "'| oauthlib', oauthlib.__version__)",
    )
    before, started = os.times(), time.monotonic()
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "not browser",
        *session.posargs,
        # The property-based tests run with 100 examples on the default stack (scripts/test, both
        # databases); here 10 per test show the oracle holds on every stack within the CI budget.
        env={
            "IDP_DATABASE": database,
            "HYPOTHESIS_MAX_EXAMPLES": os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "10"),
        },
    )
    after = os.times()
    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    # CPU seconds tell what the run costs on a quiet machine when others share the cores.
    session.log(f"pytest: {time.monotonic() - started:.0f}s wall, {cpu:.0f}s CPU")

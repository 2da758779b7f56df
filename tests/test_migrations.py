"""Migrations: swappable-safe references to DOT's models, in sync with the models, reversible."""

import ast
import importlib.util
import io
import re
from pathlib import Path
from types import SimpleNamespace

import oauth2_provider.settings
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

import django_idp_logout
from django_idp_logout.models import UserSession

APP = "django_idp_logout"
MIGRATIONS_DIR = Path(django_idp_logout.__file__).parent / "migrations"
MIGRATION_FILES = sorted(p for p in MIGRATIONS_DIR.glob("[0-9]*.py"))

# What a project that swaps every DOT model would configure.
SWAPPED = {
    "APPLICATION_MODEL": "clients.Client",
    "ACCESS_TOKEN_MODEL": "clients.Access",
    "REFRESH_TOKEN_MODEL": "clients.Refresh",
    "ID_TOKEN_MODEL": "clients.Identity",
    "GRANT_MODEL": "clients.Code",
}
DOT_MODELS = {
    "APPLICATION_MODEL": "oauth2_provider.application",
    "ACCESS_TOKEN_MODEL": "oauth2_provider.accesstoken",
    "REFRESH_TOKEN_MODEL": "oauth2_provider.refreshtoken",
    "ID_TOKEN_MODEL": "oauth2_provider.idtoken",
    "GRANT_MODEL": "oauth2_provider.grant",
}


def test_there_are_migrations():
    assert [p.name for p in MIGRATION_FILES][:1] == ["0001_initial.py"]


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda p: p.name)
def test_migration_source_has_no_hard_coded_dot_model(path):
    source = path.read_text()
    assert "OAUTH2_PROVIDER_" not in source  # settings.OAUTH2_PROVIDER_*_MODEL breaks unswapped projects
    hard_coded = re.findall(r"""['"]oauth2_provider\.[A-Za-z_]+['"]""", source)
    assert hard_coded == [], f"model strings instead of oauth2_settings: {hard_coded}"
    tree = ast.parse(source)
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    if "oauth2_settings" in source:
        assert ("oauth2_provider.settings", "oauth2_settings") in imported


def load_migration_module(path):
    spec = importlib.util.spec_from_file_location(f"_idp_logout_migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dot_references(migration) -> dict[str, set[str]]:
    """{model name: {lower-cased target of every relation}} over the migration's operations."""
    refs: dict[str, set[str]] = {}
    for operation in migration.operations:
        fields = []
        if isinstance(operation, migrations.CreateModel):
            fields = [(operation.name, f) for _n, f in operation.fields]
        elif isinstance(operation, migrations.AddField):
            fields = [(operation.model_name, operation.field)]
        for model_name, field in fields:
            if isinstance(field, models.Field) and field.remote_field is not None:
                refs.setdefault(model_name.lower(), set()).add(str(field.remote_field.model).lower())
    return refs


def test_initial_migration_follows_swapped_dot_models(monkeypatch):
    """Executed in a project that swaps DOT's models, the migration points at the swapped models."""
    fake = SimpleNamespace(**SWAPPED)
    monkeypatch.setattr(oauth2_provider.settings, "oauth2_settings", fake)
    migration = load_migration_module(MIGRATIONS_DIR / "0001_initial.py").Migration("0001_initial", APP)
    targets = set().union(*dot_references(migration).values())
    assert {t for t in targets if t.startswith("oauth2_provider.")} == set()
    assert {v.lower() for v in SWAPPED.values()} <= targets
    assert ("clients", "__first__") in migration.dependencies
    refs = dot_references(migration)
    assert refs["clientlogoutsettings"] == {"clients.client"}
    assert {
        "clients.client",
        "clients.access",
        "clients.refresh",
        "clients.identity",
        "clients.code",
    } <= refs["sessiontoken"]


def test_initial_migration_points_at_dot_models_when_not_swapped():
    migration = load_migration_module(MIGRATIONS_DIR / "0001_initial.py").Migration("0001_initial", APP)
    targets = set().union(*dot_references(migration).values())
    assert set(DOT_MODELS.values()) <= targets
    # IDToken exists from DOT's 0004 on: the graph must apply that before our tables
    plan = MigrationLoader(None, ignore_no_migrations=True).graph.forwards_plan((APP, "0001_initial"))
    assert ("oauth2_provider", "0004_auto_20200902_2022") in plan
    assert plan.index(("oauth2_provider", "0004_auto_20200902_2022")) < plan.index((APP, "0001_initial"))


@pytest.mark.django_db
def test_models_and_migrations_are_in_sync():
    out = io.StringIO()
    try:
        call_command("makemigrations", APP, "--check", "--dry-run", stdout=out, stderr=io.StringIO())
    except SystemExit as exc:  # pragma: no cover - the failure message
        pytest.fail(f"makemigrations --check wants a new migration (exit {exc.code}):\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()


def table_names() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


@pytest.mark.django_db(transaction=True)
def test_migrate_to_zero_and_back(user):
    own_tables = {model._meta.db_table for model in apps.get_app_config(APP).get_models()}
    assert own_tables <= table_names()
    UserSession.objects.create(user=user)

    call_command("migrate", APP, "zero", verbosity=0)
    assert own_tables & table_names() == set()
    assert not MigrationRecorder(connection).migration_qs.filter(app=APP).exists()
    assert "oauth2_provider_application" in table_names()  # DOT's tables are left alone

    call_command("migrate", APP, verbosity=0)
    assert own_tables <= table_names()
    assert MigrationRecorder(connection).migration_qs.filter(app=APP, name="0001_initial").exists()
    user_session = UserSession.objects.create(user=user)
    assert UserSession.objects.get(sid=user_session.sid).user == user

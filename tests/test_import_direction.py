"""The package's imports point one way (DESIGN "Layers"): views -> services -> models; DOT integration
(``oauth/``) above the services it calls; delivery strategies below the outbox service that uses them.

Read from the source with ``ast`` (imports inside functions count too: a deferred import is still a
dependency), so a new arrow the wrong way fails here, not in a review.
"""

import ast
from pathlib import Path

import django_idp_logout

PACKAGE = Path(django_idp_logout.__file__).parent
NAME = "django_idp_logout"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports (absolute or relative, at any depth)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m == NAME or m.startswith(NAME + ".")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    edges = {}
    for name, path in modules.items():
        # keep only real modules (``from .x import y`` adds ``x.y``, which may be a name, not a module)
        edges[name] = {m for m in imports_of(path) if m in modules and m != name}
    return edges


def in_package(module: str, sub: str) -> bool:
    return module == f"{NAME}.{sub}" or module.startswith(f"{NAME}.{sub}.")


def test_services_never_import_the_dot_integration():
    offenders = {
        (m, i)
        for m, deps in graph().items()
        if in_package(m, "services")
        for i in deps
        if in_package(i, "oauth")
    }
    assert offenders == set()


def test_delivery_imports_nothing_above_it():
    """Delivery sends what it is handed and reports back: it knows settings, not services, models,
    DOT, views or tasks."""
    allowed = {f"{NAME}.conf"}
    offenders = {
        (m, i)
        for m, deps in graph().items()
        if in_package(m, "delivery")
        for i in deps
        if not in_package(i, "delivery") and i not in allowed
    }
    assert offenders == set()


def test_the_outbox_and_delivery_are_in_no_import_cycle():
    edges = graph()

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for dep in edges.get(todo.pop(), ()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    watched = [m for m in edges if in_package(m, "delivery")] + [
        f"{NAME}.services.outbox",
        f"{NAME}.services.notifications",
        f"{NAME}.services.sessions",
        f"{NAME}.services.subject",
        f"{NAME}.oauth.validator",
    ]
    in_cycles = [m for m in watched if m in reachable(m)]
    assert in_cycles == []


def test_the_walker_sees_deferred_and_relative_imports():
    """The oracle itself: a function-level relative import (as services/sessions.py has) is found."""
    edges = graph()
    assert f"{NAME}.services.outbox" in edges[f"{NAME}.services.sessions"]
    assert f"{NAME}.services.sessions" in edges[f"{NAME}.oauth.validator"]

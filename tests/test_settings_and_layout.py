"""Settings agree with the README; the import rules of the layout hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app.platform.settings import SETTINGS, SettingsError, from_env

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
# The packages of app/ by layer: a package imports only packages of lower rows,
# never one of its own row. platform is the floor everything stands on; web
# answers HTTP over the capabilities; cli and main are the entry points on top.
LAYERS = [
    ["platform"],
    ["migrations"],
    ["accounts", "webhooks"],
    ["budget"],
    ["surveys"],
    ["answers"],
    ["invitations", "inbox", "results"],
    ["editor", "privacy"],
    ["demo", "worker"],
    ["web"],
    ["cli", "main"],
]
LAYER = {package: row for row, packages in enumerate(LAYERS) for package in packages}
# The only modules directly in app/: the entry points and what they start.
TOP_LEVEL = {"__init__", "main", "cli", "demo", "worker"}
WEB_ONLY = ("starlette", "jinja2", "slowapi")
WEB = APP / "web"
# The web modules every web module may import.
SHARED_WEB = {
    "app.web.problem",
    "app.web.errors",
    "app.web.http",
    "app.web.context",
    "app.web.openapi_schemas",
    "app.web.openapi_responses",
}
# Web modules that still import the database modules to run SQL of their own.
# Each is to move its queries into a domain module and leave this list; no
# module joins it.
SQL_IN_WEB: set[str] = set()
LINES_MAX = 400
# Over LINES_MAX for good: the word lists and the tables.
LONG_FOR_GOOD = {"platform/i18n/en.py", "platform/i18n/de.py", "platform/models.py"}
# Still over LINES_MAX, each to be cut into modules of its package and to
# leave this list; no module joins it.
TOO_LONG = {
    "platform/mail.py",
    "platform/db.py",
    "answers/responses.py",
    "cli.py",
    "web/openapi_schemas.py",
    "web/links.py",
    "web/invitations.py",
    "invitations/answers.py",
    "inbox/items.py",
    "webhooks/delivery.py",
    "editor/form.py",
}


def _readme_settings() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.M))


def test_every_setting_is_documented_in_the_readme_and_nothing_else() -> None:
    assert _readme_settings() == {setting.name for setting in SETTINGS}


def test_design_settings_all_exist() -> None:
    design = ROOT.parent / "shared" / "DESIGN.md"
    if not design.exists():
        pytest.skip("DESIGN.md is not beside this checkout")
    section = design.read_text().split("## Settings (environment)", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z_]+)`", section))
    assert named <= {setting.name for setting in SETTINGS}


def test_production_refuses_to_start_without_secret_keys(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEYS"):
        from_env({"ENVIRONMENT": "production"})
    settings = from_env({"ENVIRONMENT": "production", "SECRET_KEYS": "new, old"})
    assert settings.secret_keys == ("new", "old")


def test_development_keeps_a_generated_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = from_env({})
    assert first.secret_keys and len(first.secret_keys[0]) >= 32
    assert from_env({}).secret_keys == first.secret_keys
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BILLING_TIMEZONE", "Mars/Olympus"),
        ("DISPLAY_TOKEN_MAX_AGE", "-5"),
        ("RATE_LIMIT_WIDGET", "lots"),
        ("RATE_LIMIT_RECORDS", "600 a minute"),
        ("RATE_LIMIT_ENABLED", "perhaps"),
        ("ENVIRONMENT", "prod"),
        ("SMTP_DEADLINE", "0"),
        ("WEBHOOK_DEADLINE", "300"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        from_env({"SECRET_KEYS": "k", name: value})


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, and for ``from app... import name`` also
    ``app....name``, which may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "app" or node.module.startswith("app."):
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _package(module: str) -> str | None:
    """The package of app/ a module belongs to (``app.cli`` is ``cli``)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else None


def _app_modules() -> list[Path]:
    """Every module of app/ but the migrations' history."""
    return sorted(p for p in APP.rglob("*.py") if "versions" not in p.relative_to(APP).parts)


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_packages_import_only_lower_layers() -> None:
    wrong = []
    for path in _app_modules():
        mine = _package(_module(path))
        if mine is None or mine == "__init__":
            continue
        for name in sorted(_imports(path)):
            theirs = _package(name)
            if theirs is None or theirs == mine:
                continue
            if theirs not in LAYER or LAYER[theirs] >= LAYER[mine]:
                wrong.append(
                    f"{path.relative_to(ROOT)} imports {name}: {mine} (layer {LAYER[mine]})"
                    f" may not import {theirs} (layer {LAYER.get(theirs)})"
                )
    assert not wrong, "\n".join(wrong)


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in APP.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(LAYER), f"no layer for {packages - set(LAYER)}"
    assert {path.stem for path in APP.glob("*.py")} <= TOP_LEVEL


def test_domain_never_imports_web_libraries() -> None:
    for path in _app_modules():
        package = _package(_module(path))
        if package is None or package == "__init__" or LAYER[package] >= LAYER["web"]:
            continue
        bad = {m for m in _imports(path) if m.split(".")[0] in WEB_ONLY or _package(m) == "web"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_main_imports_web() -> None:
    for path in _app_modules():
        if _package(_module(path)) in ("web", "main"):
            continue
        bad = {m for m in _imports(path) if _package(m) == "web"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_no_module_over_400_lines() -> None:
    lengths = {
        str(path.relative_to(APP)): len(path.read_text().splitlines()) for path in _app_modules()
    }
    long = {name for name, lines in lengths.items() if lines > LINES_MAX} - LONG_FOR_GOOD
    assert long <= TOO_LONG, f"over {LINES_MAX} lines: {sorted(long - TOO_LONG)}"
    # A module cut down to size leaves the list, so it cannot grow back.
    assert long == TOO_LONG, f"remove {sorted(TOO_LONG - long)} from TOO_LONG"


def _web_modules() -> list[Path]:
    return sorted(WEB.rglob("*.py"))


def _under(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def test_web_modules_import_no_other_web_module_but_the_shared_ones() -> None:
    for path in _web_modules():
        package = ".".join(path.relative_to(ROOT).parent.parts)
        allowed = set(SHARED_WEB)
        if package != "app.web":
            # A package inside web/ (admin/) is one room: its modules use each other.
            allowed.add(package)
        others = {
            m
            for m in _imports(path)
            if m.startswith("app.web.") and not any(_under(m, module) for module in allowed)
        }
        assert not others, f"{path.relative_to(ROOT)} imports {others}"


def test_web_modules_leave_sql_to_the_domain() -> None:
    offenders = set()
    for path in _web_modules():
        if any(
            _under(m, database)
            for m in _imports(path)
            for database in ("app.platform.db", "app.platform.driver", "app.platform.models")
        ):
            offenders.add(str(path.relative_to(WEB)))
    assert offenders <= SQL_IN_WEB, f"SQL in web modules: {offenders - SQL_IN_WEB}"
    # A module that moved its SQL out leaves the list, so it cannot slip back.
    assert offenders == SQL_IN_WEB, f"remove {SQL_IN_WEB - offenders} from SQL_IN_WEB"


def test_nothing_imports_main() -> None:
    for path in (ROOT / "app").rglob("*.py"):
        assert "app.main" not in _imports(path), f"{path} imports app.main"


def test_the_architecture_map_names_every_module() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    missing = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        relative = path.relative_to(ROOT)
        if path.name == "__init__.py" or "migrations" in relative.parts:
            continue
        named = f"`{relative}`" in text or f"`{path.stem}`" in text
        packaged = f"`{relative.parent}/`" in text  # a package mapped as a whole
        if not (named or packaged):
            missing.append(str(relative))
    assert not missing, f"ARCHITECTURE.md does not map {missing}"


def test_database_waits_are_positive_seconds() -> None:
    settings = from_env({"DATABASE_LOCK_TIMEOUT": "1.5", "SECRET_KEYS": "k"})
    assert settings.database_lock_timeout == 1.5
    assert settings.database_statement_timeout == 30.0
    for bad in ("0", "-1", "soon", "4000"):
        with pytest.raises(SettingsError, match="DATABASE_LOCK_TIMEOUT"):
            from_env({"DATABASE_LOCK_TIMEOUT": bad, "SECRET_KEYS": "k"})

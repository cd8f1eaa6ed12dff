"""The README and docs/ name only what exists, and document every setting.

Read from the Markdown itself: every `flask --app barometre …` command (its
subcommands, options, choices and number of arguments, against the Flask CLI
as `flask` builds it), every `make` target, every repository path, every
dotted module name, every page path, every environment variable in backticks,
every relative link and its anchor; every Settings field is a row of the
settings table of docs/operations.md, with the default it really has.
"""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Iterator
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask
from flask.cli import ScriptInfo
from flask.cli import cli as flask_cli
from werkzeug.exceptions import MethodNotAllowed, NotFound

from barometre import create_app
from barometre.settings import INTERNAL_FIELDS, Settings, _parse

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
OPERATIONS = ROOT / "docs" / "operations.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200

# Environment variables the docs name that are not settings of the application:
# each with the file that reads it (the test checks that it does).
EXTERNAL_VARIABLES = {
    "POSTGRES_PASSWORD": "docker-compose.yml",
    "WEB_PORT": "docker-compose.yml",
    "MAILPIT_PORT": "docker-compose.yml",
    "PYTHON_IMAGE": "docker-compose.yml",
    "POSTGRES_IMAGE": "docker-compose.yml",
    "REDIS_IMAGE": "docker-compose.yml",
    "MAILPIT_IMAGE": "docker-compose.yml",
    "WEB_CONCURRENCY": "gunicorn.conf.py",
    "GUNICORN_BIND": "gunicorn.conf.py",
    "BACKUP_KEEP_DAYS": "scripts/backup.sh",
    "BACKUP_DATABASE_URL": "scripts/backup.sh",
    "RESTORE_DATABASE_URL": "scripts/restore.sh",
    "COMPOSE_PROJECT_NAME": "scripts/compose-smoke.sh",
    "COMPOSE_FILE": "scripts/compose-smoke.sh",
    "COMPOSE_ENV_FILES": "scripts/compose-smoke.sh",
    "SMOKE_STANDINS": "scripts/compose-smoke.sh",
    "AUDIT_REQUIRED": "scripts/audit.py",
    "FUZZ_CASES": "Makefile",
    "HISTORY_IMPORT_LINES": "Makefile",
    "EXPORT_REPORTS": "Makefile",
    "TEST_PROCESSES": "Makefile",
}

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
SPAN = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMAND = re.compile(r"flask --app barometre\b([^\n`]*)")
MAKE = re.compile(r"(?<![\w-])make ([a-z][\w-]*)")
PATH = re.compile(
    r"(?<![\w/.-])((?:barometre|alerts|intake|scripts|tests|bench|templates|docs|\.ci)/[^\s`'\"()]*"
    r"|docker-compose\.yml|\.env\.example|gunicorn\.conf\.py|pyproject\.toml|requirements\.lock)"
)
DOTTED = re.compile(r"(?<![\w/.-])((?:barometre|alerts|intake|bench)(?:\.[A-Za-z_]\w*)+)")
DOMAIN_ENDINGS = ("org", "be", "com", "example", "demo", "invalid")
VARIABLE = re.compile(r"(?<![\w.])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![\w.(])")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PLACEHOLDERS = {"slug": "haren", "token": "t0ken", "name": "modele.csv"}


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def where(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fenced(text: str) -> list[str]:
    """Code blocks, their continued lines (`\\` at the end) joined."""
    return [re.sub(r"\\\n\s*", " ", block) for block in FENCE.findall(text)]


def spans(text: str) -> list[str]:
    """Inline code outside the code blocks, a span broken over two lines joined."""
    return [" ".join(span.split()) for span in SPAN.findall(FENCE.sub("", text))]


def code_texts(path: Path) -> Iterator[str]:
    text = text_of(path)
    yield from fenced(text)
    yield from spans(text)


@pytest.fixture(scope="module")
def docs_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    instance = tmp_path_factory.mktemp("docs") / "instance"
    return create_app(
        Settings(testing=True, secret_key="docs-" + "x" * 40, instance_path=str(instance))
    )


# --- the README ---------------------------------------------------------------------------


def test_the_readme_is_short() -> None:
    lines = len(text_of(README).splitlines())
    assert lines <= README_MAX_LINES, f"README.md: {lines} lines (at most {README_MAX_LINES})"


def test_the_two_commands_are_the_readmes_and_ci_runs_the_test_one() -> None:
    first_block = fenced(text_of(README))[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands[:2] == ["make run", "make test"]
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))
    ]
    assert ci == ["make test"], ci
    run_recipe = make_recipes()["run"]
    assert "--host 127.0.0.1 --port $(PORT)" in run_recipe
    assert "PORT ?= $(or $(FLASK_RUN_PORT),5000)" in (ROOT / "Makefile").read_text()
    assert "http://127.0.0.1:5000" in first_block


# --- commands -----------------------------------------------------------------------------


def documented_commands() -> Iterator[tuple[Path, str]]:
    """Every `flask --app barometre …` in a code block or inline, up to a comment or pipe."""
    for path in DOCS:
        for code in code_texts(path):
            for match in COMMAND.finditer(code):
                line = re.split(r"\s#|\s\|\s|\)|\s&&\s", match.group(1))[0]
                yield path, line.strip()


def short_commands(docs_app: Flask) -> Iterator[tuple[Path, str]]:
    """Inline mentions without the prefix (`users disable`, `import history`)."""
    groups = {name for name, c in docs_app.cli.commands.items() if isinstance(c, click.Group)}
    groups.add("db")
    for path in DOCS:
        for span in spans(text_of(path)):
            words = span.split()
            if len(words) >= 2 and words[0] in groups and re.fullmatch(r"[a-z-]+", words[1]):
                yield path, span


def command_problems(docs_app: Flask, line: str, short: bool = False) -> list[str]:
    tokens = [t.replace("[", "").replace("]", "") for t in shlex.split(line.replace("…", ""))]
    ctx = click.Context(flask_cli, info_name="flask", obj=ScriptInfo(create_app=lambda: docs_app))
    with ctx:
        command: click.Command = flask_cli
        named: list[str] = []
        while isinstance(command, click.Group) and tokens and not tokens[0].startswith("-"):
            found = command.get_command(ctx, tokens[0])
            if found is None:
                return [f"no command `{' '.join([*named, tokens[0]])}`"]
            named.append(tokens.pop(0))
            command = found
        if not named:
            return []  # `flask --app barometre …`: the CLI as a whole
        if isinstance(command, click.Group):
            return [f"`{' '.join(named)}` is a group: name one of its commands"]
        return parameter_problems(command, " ".join(named), tokens, short)


def parameter_problems(
    command: click.Command, name: str, tokens: list[str], short: bool
) -> list[str]:
    options = {
        opt: param
        for param in command.params
        if isinstance(param, click.Option)
        for opt in (*param.opts, *param.secondary_opts)
    }
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    problems, positional = [], []
    while tokens:
        token = tokens.pop(0)
        if not re.match(r"--?[a-zA-Z]", token):
            positional.append(token)
            continue
        opt, _, inline = token.partition("=")
        option = options.get(opt)
        if option is None:
            problems.append(f"`{name}` has no option {opt}")
            continue
        if option.is_flag or inline:
            continue
        if not tokens:
            if not short:
                problems.append(f"`{name} {opt}` needs a value")
            continue
        value = tokens.pop(0)
        if isinstance(option.type, click.Choice):
            wrong = [v for v in value.split("|") if v not in option.type.choices]
            if wrong:
                problems.append(f"`{name} {opt}`: {wrong} not in {list(option.type.choices)}")
    if short:
        return problems
    least = sum(a.nargs for a in arguments if a.required)
    most = None if any(a.nargs < 0 for a in arguments) else sum(a.nargs for a in arguments)
    if len(positional) < least or (most is not None and len(positional) > most):
        problems.append(f"`{name}` takes {least}..{most} arguments, the docs give {positional}")
    return problems


def test_every_flask_command_exists_with_its_options(docs_app: Flask) -> None:
    seen, problems = 0, []
    for path, line in documented_commands():
        seen += 1
        problems += [f"{where(path)}: {p} ({line})" for p in command_problems(docs_app, line)]
    for path, span in short_commands(docs_app):
        seen += 1
        problems += [f"{where(path)}: {p}" for p in command_problems(docs_app, span, short=True)]
    assert seen > 20
    assert not problems, "\n".join(problems)


def test_the_command_check_catches_what_does_not_exist(docs_app: Flask) -> None:
    assert command_problems(docs_app, "users create EMAIL") == []
    assert command_problems(docs_app, "users remove EMAIL")
    assert command_problems(docs_app, "users create EMAIL --colour red")
    assert command_problems(docs_app, "users create EMAIL --role admin")
    assert command_problems(docs_app, "users create")
    assert command_problems(docs_app, "users")
    assert command_problems(docs_app, "db upgrade") == []


# --- make targets, paths, modules ---------------------------------------------------------


def make_recipes() -> dict[str, str]:
    recipes: dict[str, str] = {}
    target = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([a-zA-Z][\w-]*)\s*:(?!=)", line)
        if match:
            target = match.group(1)
            recipes[target] = ""
        elif line.startswith("\t") and target:
            recipes[target] += line.strip() + "\n"
        elif not line.strip():
            target = None
    return recipes


def test_every_make_target_exists() -> None:
    targets = set(make_recipes())
    named = {(where(p), t) for p in DOCS for code in code_texts(p) for t in MAKE.findall(code)}
    assert {"run", "test"} <= {t for _, t in named}
    missing = sorted((p, t) for p, t in named if t not in targets)
    assert not missing, missing


def test_every_path_exists() -> None:
    missing = []
    for path in DOCS:
        for code in code_texts(path):
            for found in PATH.findall(code):
                name = found.rstrip(".,;:")
                if "<" in name or "…" in name:
                    continue
                if not (ROOT / name).exists():
                    missing.append(f"{where(path)}: {name}")
    assert not missing, "\n".join(missing)


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_module_and_name_exists() -> None:
    missing, seen = [], 0
    for path in DOCS:
        for span in spans(text_of(path)):
            for dotted in DOTTED.findall(span):
                if dotted.rsplit(".", 1)[1] in DOMAIN_ENDINGS:
                    continue  # a host name, not a module
                seen += 1
                if not resolves(dotted):
                    missing.append(f"{where(path)}: {dotted}")
    assert seen > 10
    assert not missing, "\n".join(missing)


# --- pages --------------------------------------------------------------------------------


def documented_routes() -> Iterator[tuple[Path, str | None, str]]:
    for path in DOCS:
        for span in spans(text_of(path)):
            method, _, rest = span.partition(" ")
            if method in METHODS and rest.startswith("/"):
                yield path, method, rest.split()[0]
            elif span.startswith("/"):
                yield path, None, span.split()[0]


def concrete(route: str) -> str:
    route = route.split("?")[0].rstrip(".,;:")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split("|")[0]
        return PLACEHOLDERS.get(name, name if "|" in match.group(1) else "1")

    return re.sub(r"<([^>]+)>", fill, route)


def test_every_page_exists(docs_app: Flask) -> None:
    """Every page path, with its method when the docs give one; a prefix (`/api/v1`) when
    pages are under it."""
    adapter = docs_app.url_map.bind("localhost")
    prefixes = {
        r.rule[: i + 1]
        for r in docs_app.url_map.iter_rules()
        for i, c in enumerate(r.rule)
        if c == "/"
    }
    missing, seen = [], 0
    for path, method, route in documented_routes():
        if "…" in route:
            continue
        seen += 1
        try:
            adapter.match(concrete(route), method=method or "GET")
        except MethodNotAllowed:
            if method is not None:
                missing.append(f"{where(path)}: {method} {route}")
        except NotFound:
            if route.rstrip("/") + "/" not in prefixes:
                missing.append(f"{where(path)}: {route}")
    assert seen > 30
    assert not missing, "\n".join(missing)


# --- settings -----------------------------------------------------------------------------


def env_names() -> dict[str, Any]:
    return {
        f.metadata.get("env", f.name.upper()): f
        for f in fields(Settings)
        if f.name not in INTERNAL_FIELDS
    }


def test_every_variable_named_is_a_setting_or_read_where_the_docs_say() -> None:
    settings = env_names()
    wrong = []
    for name, reader in EXTERNAL_VARIABLES.items():
        if name in settings or name not in (ROOT / reader).read_text():
            wrong.append(f"{name}: not read by {reader}, or a setting")
    for path in DOCS:
        for span in spans(text_of(path)):
            names = VARIABLE.findall(span)
            if re.fullmatch(r"[A-Z]{4,}", span):
                names.append(span)
            for name in names:
                if name not in settings and name not in EXTERNAL_VARIABLES:
                    wrong.append(f"{where(path)}: {name}")
    assert not wrong, "\n".join(wrong)


def settings_table() -> list[tuple[list[str], str]]:
    """(names, default cell) of each row of the table headed `| variable | default |`."""
    rows, inside = [], False
    for line in text_of(OPERATIONS).splitlines():
        if line.startswith("| variable | default |"):
            inside = True
            continue
        if inside and not line.startswith("|"):
            break
        if inside and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append((re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]), cells[1]))
    return rows


def test_every_setting_has_one_row_in_the_operators_manual() -> None:
    documented = [name for names, _ in settings_table() for name in names]
    assert sorted(documented) == sorted(env_names()), set(documented) ^ set(env_names())


def test_the_defaults_documented_are_the_real_ones() -> None:
    """A default cell of backticked literals only (one per name) is compared with Settings."""
    settings, compared = env_names(), 0
    for names, cell in settings_table():
        values = re.fullmatch(r"`[^`]*`(?:, `[^`]*`)*", cell) and re.findall(r"`([^`]*)`", cell)
        if re.fullmatch(r"empty(?:, empty)*(?::.*)?", cell):
            values = [""] * len(names)
        if not values or len(values) != len(names):
            continue
        for name, raw in zip(names, values, strict=True):
            field = settings[name]
            default = field.default if field.default is not MISSING else field.default_factory()
            real = _parse(raw, field.type) if raw else (None if default is None else "")
            compared += 1
            assert real == default, f"{name}: documented {raw!r}, default {default!r}"
    assert compared > 30


# --- links --------------------------------------------------------------------------------


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", text_of(path))
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_every_link_leads_somewhere() -> None:
    broken = []
    for path in DOCS:
        for target in LINK.findall(text_of(path)):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, fragment = target.partition("#")
            goal = (path.parent / file).resolve() if file else path
            if not goal.exists():
                broken.append(f"{where(path)}: {target}")
            elif fragment and goal.suffix == ".md" and fragment not in anchors(goal):
                broken.append(f"{where(path)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = text_of(README)
    unlinked = [where(p) for p in DOCS[1:] if f"]({where(p)})" not in readme]
    assert not unlinked, unlinked


# --- channels -----------------------------------------------------------------------------


def apprise_schemes() -> set[str]:
    import apprise

    found: set[str] = set()
    for plugin in apprise.Apprise().details()["schemas"]:
        for key in ("protocols", "secure_protocols"):
            value = plugin.get(key) or ()
            found.update([value] if isinstance(value, str) else value)
    return found


def test_every_chat_url_the_docs_and_the_refusal_give_is_one_apprise_knows(
    docs_app: Flask,
) -> None:
    """The Apprise URLs docs/alerts.md gives are accepted as chats, and the schemes the
    refusal of an unknown URL suggests exist (Apprise 2 has no `msteams://`)."""
    from alerts.channels.models import ChannelKind
    from alerts.channels.targets import ChannelRefused, chat_plugin, check_url

    urls = [
        span.split()[0].strip("'")
        for code in code_texts(ROOT / "docs" / "alerts.md")
        for span in re.findall(r"(?<![\w/])'?[a-z]+://[^\s`]+", code)
        if not span.strip("'").startswith(("http://", "https://"))
    ]
    assert len(urls) >= 8, urls
    assert [u for u in urls if chat_plugin(u) is None] == []
    with docs_app.test_request_context(), pytest.raises(ChannelRefused) as refused:
        check_url("nosuchchat://x/y", ChannelKind.CHAT, allow_private=True)
    suggested = re.findall(r"([a-z]+)://", refused.value.reason)
    assert suggested and set(suggested) <= apprise_schemes(), suggested

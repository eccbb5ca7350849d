"""Role READMEs, argument specs and defaults name the same variables (issue 12, point 5).

test_role_specs.py keeps each role's defaults/main.yml and its `main` argument spec in
step; this file holds the READMEs to both, and the top-level README to the roles.

How a README documents a variable: a row of a table whose first column is headed
"Variable" (several names may share a row, each in backticks and written in full), or,
under a heading that says "Variables", a list item that opens with the name in
backticks. A row or item whose default reads "none, secret" documents a secret: house
style gives secrets no default, and they stay out of the argument specs because Ansible
templates every argument-spec variable when a role starts (a secret mapped to a missing
Vault variable would stop the run there, before the check that names every missing
secret). Names starting with `__` are internal and never documented.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = ROOT / "roles"
# Discovered, never listed: roles get renamed.
ROLES = sorted(path.name for path in ROLES_DIR.glob("*/") if (path / "tasks").is_dir())

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)\s*(\w*)")
BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
LEADING_CODE = re.compile(r"^((?:`[^`\n]+`(?:\s*(?:/|,|\band\b|\bor\b)\s*)?)+)")
CODE = re.compile(r"`([^`\n]+)`")
SEPARATOR = re.compile(r"^:?-+:?$")
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
SECRET = re.compile(r"\bnone\b\W+secrets?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Documented:
    name: str
    secret: bool
    where: str  # README path and line


@dataclass
class Readme:
    documented: list[Documented]
    unreadable: list[str]  # variable cells that name no variable the test can read


def _load(path: Path) -> dict | list:
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _cells(row: str) -> list[str]:
    """A table row's cells, split on the pipes outside code spans (`a | b` stays one)."""
    cells, current, in_code = [], "", False
    body = row.strip().removeprefix("|")
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and body[index + 1 : index + 2] == "|":
            current, index = current + "|", index + 2
            continue
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
        index += 1
    if current.strip():
        cells.append(current.strip())
    return cells


def _names(text: str) -> tuple[list[str], list[str]]:
    """Variable names in a table cell or a list item's lead: (names, unreadable tokens)."""
    tokens = CODE.findall(text) or re.split(r"\s*(?:/|,|\band\b|\bor\b)\s*", text.strip("*_ "))
    tokens = [token.strip() for token in tokens if token.strip()]
    names, unreadable = [], []
    for token in tokens:
        name = token.split(".")[0]  # `var.option` documents an option of `var`
        if name.startswith("__"):
            continue  # internal
        if IDENTIFIER.fullmatch(name):
            names.append(name)
        else:
            unreadable.append(token)
    return names, unreadable if tokens else ["(an empty cell)"]


def _lines(path: Path) -> Iterator[tuple[int, str, str, str | None]]:
    """(line number, line, current heading, fence language or None outside code blocks)."""
    heading, fence = "", None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        opening = FENCE.match(line)
        if opening:
            fence = (opening.group(2) or "text") if fence is None else None
            continue
        if fence is None and (match := HEADING.match(line)):
            heading = match.group(2)
        yield number, line, heading, fence


@cache
def readme(path: Path) -> Readme:
    """The variables a README documents in its variable tables and variable lists."""
    where = path.relative_to(ROOT)
    result = Readme([], [])
    table: list[tuple[int, list[str]]] = []

    def add(number: int, text: str, secret: bool) -> None:
        names, unreadable = _names(text)
        result.documented += [Documented(name, secret, f"{where}:{number}") for name in names]
        result.unreadable += [
            f"{where}:{number}: `{token}` is not a variable name; write each name in full, in backticks"
            for token in unreadable
        ]

    def end_table() -> None:
        if len(table) > 2 and all(SEPARATOR.match(cell) for cell in table[1][1]):
            header = [cell.strip("*_ ").lower() for cell in table[0][1]]
            if header and header[0] in ("variable", "variables"):
                default = header.index("default") if "default" in header else None
                for number, cells in table[2:]:
                    judged = cells[default] if default is not None and default < len(cells) else " ".join(cells)
                    add(number, cells[0] if cells else "", bool(SECRET.search(judged)))
        table.clear()

    for number, line, heading, fence in _lines(path):
        if fence is None and line.lstrip().startswith("|"):
            table.append((number, _cells(line)))
            continue
        end_table()
        item = BULLET.match(line) if fence is None and "variable" in heading.lower() else None
        if item and (lead := LEADING_CODE.match(item.group(1))):
            add(number, lead.group(1), bool(SECRET.search(item.group(1))))
    end_table()
    return result


@cache
def spec_options(role: str) -> dict[str, dict[str, dict]]:
    """Each option of the role's argument specs, with its spec in every entry point that has it."""
    specs = _load(ROLES_DIR / role / "meta" / "argument_specs.yml").get("argument_specs") or {}
    options: dict[str, dict[str, dict]] = {}
    for entry_point, spec in specs.items():
        for name, option in ((spec or {}).get("options") or {}).items():
            options.setdefault(name, {})[entry_point] = option or {}
    return options


@cache
def defaults(role: str) -> frozenset[str]:
    return frozenset(name for name in _load(ROLES_DIR / role / "defaults" / "main.yml") if not name.startswith("__"))


def role_readme(role: str) -> Readme:
    path = ROLES_DIR / role / "README.md"
    return readme(path) if path.is_file() else Readme([], [f"roles/{role} has no README.md"])


@cache
def _role_text(role: str) -> str:
    """What the role's own files say, without comments: YAML as loaded, templates as written."""
    texts = []
    for path in sorted((ROLES_DIR / role).rglob("*")):
        if not path.is_file() or path.name == "README.md" or path.parent.name == "meta":
            continue
        texts.append(repr(_load(path)) if path.suffix in (".yml", ".yaml") else path.read_text(errors="replace"))
    return "\n".join(texts)


def _reads(role: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", _role_text(role)) is not None


@cache
def known_variables() -> frozenset[str]:
    """Every variable of every role: argument-spec options, defaults and documented secrets."""
    names: set[str] = set()
    for role in ROLES:
        names |= set(spec_options(role)) | defaults(role)
        names |= {doc.name for doc in role_readme(role).documented if doc.secret}
    return frozenset(names)


def _yaml_keys(node: object, key: str) -> Iterator[object]:
    """Every value stored under `key` anywhere in a loaded YAML document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from _yaml_keys(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_keys(item, key)


@cache
def not_variables() -> frozenset[str]:
    """Names a README may put in backticks that are no variable: roles, modules, filters, tags, groups."""
    names = {path.name for path in ROLES_DIR.iterdir() if path.is_dir()}
    names |= {path.stem for path in (ROOT / "library").glob("*.py")}
    for path in (ROOT / "filter_plugins").glob("*.py"):
        names |= set(re.findall(r"[\"'](\w+)[\"']\s*:", path.read_text()))
    for path in [*ROLES_DIR.glob("*/tasks/*.yml"), *(ROOT / "playbooks").glob("*.yml")]:
        for tags in _yaml_keys(_load(path), "tags"):
            names |= set(tags) if isinstance(tags, list) else {str(tags)}
    inventories = [*(ROOT / "inventories").glob("*/hosts.y*ml"), *(ROOT / "tests" / "inventories").rglob("*.y*ml")]
    for path in inventories:
        if "group_vars" in path.parts or "host_vars" in path.parts:
            continue
        document = _load(path)
        names |= set(document) if isinstance(document, dict) else set()
        for children in _yaml_keys(document, "children"):
            names |= set(children) if isinstance(children, dict) else set()
    return frozenset(names)


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_each_variable_in_full(role):
    unreadable = role_readme(role).unreadable
    assert not unreadable, f"{role}: README variable entries the test cannot read:\n" + "\n".join(unreadable)


@pytest.mark.parametrize("role", ROLES)
def test_every_documented_variable_is_in_the_argument_spec_and_defaults(role):
    options, role_defaults, missing = spec_options(role), defaults(role), []
    for doc in role_readme(role).documented:
        if doc.secret:
            if doc.name in role_defaults:
                missing.append(
                    f"{doc.where}: secret `{doc.name}` has a default in defaults/main.yml (secrets have none)"
                )
            if not _reads(role, doc.name):
                missing.append(f"{doc.where}: secret `{doc.name}` is read by nothing in roles/{role}")
        elif doc.name not in options:
            missing.append(f"{doc.where}: `{doc.name}` is missing from roles/{role}/meta/argument_specs.yml")
        elif doc.name not in role_defaults and not all(
            option.get("required") and "default" not in option for option in options[doc.name].values()
        ):
            missing.append(
                f"{doc.where}: `{doc.name}` is missing from roles/{role}/defaults/main.yml"
                " (only a required option without a default may be)"
            )
    assert not missing, f"{role}: documented in README.md but not defined:\n" + "\n".join(missing)


@pytest.mark.parametrize("role", ROLES)
def test_every_option_and_default_is_documented_in_the_readme(role):
    documented = {doc.name for doc in role_readme(role).documented}
    undocumented = [
        f"`{name}` (meta/argument_specs.yml, entry points {', '.join(sorted(entry_points))})"
        for name, entry_points in sorted(spec_options(role).items())
        if name not in documented and not name.startswith("__")
    ]
    undocumented += [f"`{name}` (defaults/main.yml)" for name in sorted(defaults(role) - documented)]
    assert not undocumented, f"{role}: defined but missing from roles/{role}/README.md:\n" + "\n".join(undocumented)


def test_top_level_readme_tables_name_existing_variables():
    top = readme(ROOT / "README.md")
    unknown = [f"{doc.where}: `{doc.name}`" for doc in top.documented if doc.name not in known_variables()]
    assert not top.unreadable, "\n".join(top.unreadable)
    assert not unknown, "README.md names variables that no role's defaults or argument spec has:\n" + "\n".join(unknown)


def _mentions(path: Path, namespaces: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(where, name) of each variable-like name in code spans, and each key of YAML examples."""
    pattern = re.compile(rf"(?<![\w/.@-])((?:{'|'.join(map(re.escape, namespaces))})\w*)")
    for number, line, _heading, fence in _lines(path):
        if fence is None:
            spans = CODE.findall(line)
        elif fence in ("yaml", "yml"):
            spans = re.findall(r"^\s*(?:-\s+)?(\w+)\s*:", line)
        else:
            continue
        for span in spans:
            for name in pattern.findall(span):
                if not name.endswith("_"):  # `mongodb_shard_<name>`: a pattern, not a name
                    yield f"{path.relative_to(ROOT)}:{number}", name


def test_readmes_mention_only_variables_that_exist():
    """Prose drifts too: a variable a README names in passing or in an example must exist."""
    known, others = known_variables(), not_variables()
    namespaces = tuple(sorted({name.split("_")[0] + "_" for name in known}))
    readmes = [ROOT / "README.md", *(ROLES_DIR / role / "README.md" for role in ROLES)]
    unknown = [
        f"{where}: `{name}`"
        for path in readmes
        if path.is_file()
        for where, name in _mentions(path, namespaces)
        if name not in known and name not in others
    ]
    assert not unknown, (
        "READMEs name variables that no role defines (defaults, argument spec or documented secret),"
        " and that are no role, module, filter, tag or inventory group:\n" + "\n".join(unknown)
    )

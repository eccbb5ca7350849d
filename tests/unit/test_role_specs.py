"""Every role's defaults and meta/argument_specs.yml describe the same variables."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES_ALL = sorted(path.name for path in ROLES_DIR.iterdir() if (path / "tasks").is_dir())
# A role with no variables of its own (mongodb_service reads mongodb_common's) has
# neither defaults nor argument specs.
ROLES = [role for role in ROLES_ALL if (ROLES_DIR / role / "defaults" / "main.yml").is_file()]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _options(role: str) -> dict:
    """The role's variables as its specs document them: the main entry point's (or for a
    role whose main has no spec, mongodb_common, a dependency of every role, validate's),
    and the optional ones only another entry point takes (mongodb_backup's restore; a
    required input of an entry point, such as render's directory, has no default)."""
    specs = _load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update({name: spec for name, spec in (entry.get("options") or {}).items() if not spec.get("required")})
    options.update((specs.get("main") or specs["validate"])["options"])
    return options


@pytest.mark.parametrize("role", ROLES_ALL)
def test_role_has_readme_defaults_and_specs(role):
    for part in ("README.md", "meta/main.yml"):
        assert (ROLES_DIR / role / part).is_file(), f"{role} lacks {part}"
    has_defaults = (ROLES_DIR / role / "defaults/main.yml").is_file()
    has_specs = (ROLES_DIR / role / "meta/argument_specs.yml").is_file()
    assert has_defaults == has_specs, f"{role} has defaults without argument specs, or the reverse"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_has_a_spec_and_every_spec_a_default(role):
    defaults = _load(ROLES_DIR / role / "defaults" / "main.yml")
    options = _options(role)
    assert sorted(set(defaults) - set(options)) == [], "defaults without an argument spec"
    # A spec without a default value is a secret or an optional input: it must not be required.
    for name in sorted(set(options) - set(defaults)):
        assert not options[name].get("required"), f"{name} is required but has no default"
        assert "default" not in options[name], f"{name} documents a default that defaults/main.yml lacks"


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_match_their_spec(role):
    defaults = _load(ROLES_DIR / role / "defaults" / "main.yml")
    options = _options(role)
    for name, value in defaults.items():
        if "{{" in repr(value):
            continue  # computed per host; the spec describes it in words
        if value is None:
            assert "default" not in options[name], f"{name} is empty in defaults but the spec gives a default"
            continue
        assert options[name].get("default") == value, f"{name}: spec default differs from defaults/main.yml"


@pytest.mark.parametrize("role", ROLES)
def test_validate_entry_point_mirrors_main(role):
    specs = _load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]
    if "validate" in specs and "main" in specs:
        assert specs["validate"]["options"] == specs["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_carry_the_role_prefix_or_the_shared_one(role):
    defaults = _load(ROLES_DIR / role / "defaults" / "main.yml")
    for name in defaults:
        assert name.startswith("mongodb_"), f"{name} does not use the mongodb_ namespace"
        if role != "mongodb_common":
            shared = ("mongodb_archive_", "mongodb_module_python")
            assert name.startswith(role + "_") or name.startswith(shared), f"{name} lacks the {role}_ prefix"

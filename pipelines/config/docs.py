"""default.yaml and docs/config.md, written from the schema (pipelines/config/sections.py and the
sections it lists): `python -m pipelines.config.docs [--check]`. tests/pipelines/test_config_schema.py
fails when the checked-in files differ from what this writes, so a setting's default, type,
allowed values and explanation are stated once, in its section's dataclass."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
import typing
from pathlib import Path

from .schema import PerLang, choices_of, defaults_of, hints
from .sections import LANGUAGES, LANGUAGES_DOC, PREAMBLE, all_sections

REPO = Path(__file__).resolve().parents[2]
DEFAULT_YAML = Path(__file__).with_name("default.yaml")
CONFIG_MD = REPO / "docs" / "config.md"
_COMMENT_AT = 29  # the column comments start at in default.yaml
_WIDTH = 118


def section_doc(schema) -> str:
    doc = getattr(schema, "section_doc", None) or schema.__dict__.get("__doc__") or ""
    return "" if doc.startswith(schema.__name__ + "(") else textwrap.dedent(doc).strip()


def _scalar(value) -> str:
    """A YAML scalar or flow collection as a person writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = value and value.replace("_", "").replace("-", "").replace(".", "").isalnum()
        return value if plain else json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _line(indent: int, key: str, value: str, comment: str = "") -> list[str]:
    """`key: value  # comment`, the comment wrapped into further comment lines at its column."""
    head = " " * indent + f"{key}:" + (f" {value}" if value else "")
    if not comment:
        return [head]
    col = max(_COMMENT_AT, len(head) + 1)
    parts = textwrap.wrap(comment, _WIDTH - col - 2) or [""]
    return [head.ljust(col) + "# " + parts[0]] + [" " * col + "# " + p for p in parts[1:]]


def _comment_block(text: str, indent: int = 0) -> list[str]:
    out = []
    for para in text.split("\n\n"):
        lines = textwrap.wrap(" ".join(para.split()), _WIDTH - indent - 2)
        out += [" " * indent + "# " + line for line in lines] + [" " * indent + "#"]
    return out[:-1]


def _yaml_fields(schema, values: dict, indent: int) -> list[str]:
    out = []
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key, value in values.items():
        f = fields[key]
        doc = f.metadata.get("doc", "")
        tp = hints(schema)[key]
        if dataclasses.is_dataclass(tp):
            out += _line(indent, key, "", section_doc(tp).replace("\n", " "))
            out += _yaml_fields(tp, value, indent + 2)
        elif isinstance(getattr(schema(), key), PerLang) and getattr(schema(), key).notes:
            notes = getattr(schema(), key).notes
            out += _line(indent, key, "", doc)
            out += [ln for lang, v in value.items() for ln in _line(indent + 2, lang, _scalar(v), notes.get(lang, ""))]
        else:
            out += _line(indent, key, _scalar(value), doc)
    return out


def default_yaml() -> str:
    out = ["# Written by `python -m pipelines.config.docs` from the config schema (pipelines/config/sections.py",
           "# lists the sections; each is a dataclass next to the code that uses it): edit the schema, not this file.",
           "#"]
    out += _comment_block(PREAMBLE)
    out += _line(0, "languages", _scalar(LANGUAGES), LANGUAGES_DOC)
    for name, schema in all_sections().items():
        out.append("")
        doc = section_doc(schema)
        if doc:
            out += _comment_block(doc)
        if hasattr(schema, "schema_build"):  # the filters table
            out.append(f"{name}:")
            table = schema.defaults()
            for f in table:
                out += _line(2, f.name, "", f.doc)
                entry = table.mapping[f.name]
                notes = _filter_notes(f.name)
                for key, value in entry.items():
                    out += _line(4, key, _scalar(value), notes.get(key, ""))
        else:
            out.append(f"{name}:")
            out += _yaml_fields(schema, defaults_of(schema), 2)
    return "\n".join(out) + "\n"


def _filter_notes(name: str) -> dict:
    from ..text.filters import DEFAULT_FILTERS

    return DEFAULT_FILTERS[name]["notes"] if name in DEFAULT_FILTERS else {}


def _type_name(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is PerLang:
        return f"{_type_name(args[0])} per language"
    if dataclasses.is_dataclass(tp):
        return "section"
    return {bool: "bool", int: "integer", float: "number", str: "string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _allowed(meta) -> str:
    choices = choices_of(meta)
    parts = [", ".join(f"`{c}`" for c in choices)] if choices else []
    if meta.get("positive"):
        parts.append("> 0")
    if meta.get("lo") is not None or meta.get("hi") is not None:
        parts.append(f"[{meta.get('lo', '-inf') if meta.get('lo') is not None else '-inf'}, "
                     f"{meta.get('hi') if meta.get('hi') is not None else 'inf'}]")
    return "; ".join(parts)


def _md_rows(schema, prefix: str) -> list[str]:
    rows = []
    instance = schema()
    for f in dataclasses.fields(schema):
        tp = hints(schema)[f.name]
        key = f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(tp):
            rows.append(f"| `{key}` | section | | | {section_doc(tp)} |".replace("\n", " "))
            rows += _md_rows(tp, key)
            continue
        default = getattr(instance, f.name)
        shown = _scalar(dict(default) if isinstance(default, PerLang) else default)
        if len(shown) > 60:
            shown = "(see the module)"
        doc = f.metadata.get("doc", "")
        if isinstance(default, PerLang) and default.notes:
            doc += "".join(f" {lang}: {note}" for lang, note in default.notes.items())
        if not f.metadata.get("listed", True):
            doc += " *(expert: not in default.yaml)*"
        rows.append(f"| `{key}` | {_type_name(tp)} | `{shown}` | {_allowed(f.metadata)} | {_cell(doc)} |")
    return rows


def _cell(text: str) -> str:
    return text.strip().replace("|", "\\|")


def config_md() -> str:
    out = ["# Pipeline configuration", "",
           "Written by `python -m pipelines.config.docs` from the config schema; edit the schema "
           "(pipelines/config/sections.py lists the sections), not this file. A YAML file given with "
           "`--config` is merged over the defaults (pipelines/config/default.yaml, written from the same "
           "schema); a wrong key or value stops the run before any work with one line naming the file and "
           "key, e.g. `config my.yaml: filters.word_count.zh.min: expected a number or null, got 'abc'`. "
           "Per-language tables take language codes of `languages` and `default` (every other language).",
           "", " ".join(PREAMBLE.split()), "",
           "## languages", "", f"list of language codes, default `{_scalar(LANGUAGES)}`: {LANGUAGES_DOC}."]
    for name, schema in all_sections().items():
        out += ["", f"## {name}", ""]
        doc = section_doc(schema)
        if doc:
            out += [" ".join(p.split()) + "\n" for p in doc.split("\n\n")]
        if hasattr(schema, "schema_build"):
            out += ["| filter | signal | bounds | why |", "|---|---|---|---|"]
            table = schema.defaults()
            for f in table:
                notes = _filter_notes(f.name)
                bounds = "; ".join(f"{lang}: {_scalar(b)}" for lang, b in table.mapping[f.name].items()
                                   if lang != "signal")
                why = " ".join([f.doc] + [f"{lang}: {n}" for lang, n in notes.items()]).strip()
                out.append(f"| `{f.name}` | `{f.signal}` | {bounds} | {_cell(why)} |")
        else:
            out += ["| key | type | default | allowed | what and why |", "|---|---|---|---|---|"]
            out += _md_rows(schema, name)
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.config.docs", description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 when a written file differs instead of writing")
    args = p.parse_args(argv)
    stale = []
    for path, text in ((DEFAULT_YAML, default_yaml()), (CONFIG_MD, config_md())):
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale (run python -m pipelines.config.docs): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

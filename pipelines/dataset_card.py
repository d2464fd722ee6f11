"""The dataset card of a corpus release: OUT/README.md in the Hugging Face Hub's format.

YAML metadata (languages, size category, source datasets, the inputs' licences where their
READMEs state them) and a body with the filter funnel, the dedup and PII counts, the
per-language and per-source tables and the resolved config. Built from the run's stats.json
and the release manifest's fields (pipelines.release); the run writes it before manifest.json,
so the manifest lists it with the other files. The front matter is written with PyYAML:
huggingface_hub is no pipeline dependency (the tests parse the card with it).
"""
from __future__ import annotations

import os
import re

import yaml

from . import storage

# The Hub's size_categories buckets, by kept documents.
_SIZE_BUCKETS = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                 (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                 (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))

# A licence statement that names exactly one licence -> its Hub identifier. A statement with
# more terms than that ("repo Apache-2.0; page text (c) the sites") is not that licence: it
# becomes "other", its words kept in the card.
_LICENCE_IDS = (
    (re.compile(r"apache[- ]?(license[ ,]*)?(version )?2\.0"), lambda m: "apache-2.0"),
    (re.compile(r"mit( license)?"), lambda m: "mit"),
    (re.compile(r"cc[- ]by((?:-nc)?(?:-sa|-nd)?)[- ]([1-4]\.0)"), lambda m: f"cc-by{m.group(1)}-{m.group(2)}"),
    (re.compile(r"cc0([- ]1\.0)?"), lambda m: "cc0-1.0"),
    (re.compile(r"odc-by([- ]1\.0)?"), lambda m: "odc-by"),
    (re.compile(r"gpl-3\.0"), lambda m: "gpl-3.0"),
)
_LICENCE_WORD = re.compile(r"licen[cs]e", re.IGNORECASE)
# "- **Licence:** CC BY-SA 4.0." or "Licence: Apache-2.0 (repository LICENSE)." (a whole folder)
_FOLDER_LICENCE = re.compile(r"\blicen[cs]e\W{0,6}:\**\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def size_category(documents: int) -> str:
    for bound, name in _SIZE_BUCKETS:
        if documents < bound:
            return name
    return "n>1T"


def hub_licence(text: str) -> str:
    """The Hub identifier of a licence statement: one of the Hub's ids when the statement is
    exactly that licence (parenthesised remarks aside), else "other"."""
    core = re.sub(r"\([^)]*\)", " ", text).strip().rstrip(".").strip().lower()
    core = re.sub(r"\s+", " ", core)
    for pattern, identifier in _LICENCE_IDS:
        match = pattern.fullmatch(core)
        if match:
            return identifier(match)
    return "other"


def _cells(line: str) -> list[str]:
    return [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]


def readme_licences(text: str) -> tuple[dict[str, str], str | None]:
    """({source: licence} from a Markdown table whose first column is the source and which has
    a licence column, None or the licence the README states for its whole folder)."""
    per_source: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        head = _cells(line)
        rule = all(re.fullmatch(r":?-+:?", c) for c in _cells(lines[i + 1]))
        if not line.lstrip().startswith("|") or head[0].lower() != "source" or not rule:
            continue
        column = next((k for k, h in enumerate(head) if _LICENCE_WORD.search(h)), None)
        if column is None:
            continue
        previous = None
        for row in lines[i + 2:]:
            if not row.lstrip().startswith("|"):
                break
            cells = _cells(row)
            if len(cells) <= column:
                continue
            licence = cells[column]
            if previous and licence.lower().startswith("as above"):  # the table's own shorthand
                licence = previous + licence[len("as above"):]
            per_source[cells[0]] = previous = licence
    folder = None
    if not per_source:
        match = _FOLDER_LICENCE.search(text)
        # its first sentence: what follows is about the files ("Files copied byte-for-byte")
        folder = re.split(r"(?<=\.)\s+(?=[A-Z])", match.group(1).strip())[0] if match else None
    return per_source, folder


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if storage.is_remote(path) else os.path.dirname(path)


def source_licences(sources: list[str], input_paths: list[str]) -> dict[str, str | None]:
    """Each source's licence as the READMEs beside the input files state it, None where none
    does. A source missing from their per-source tables takes the licence its folder's README
    gives all its files, when every input comes from that one folder (a record does not say
    which folder it was read from)."""
    folders = sorted({_folder(p) for p in input_paths})
    table: dict[str, str] = {}
    whole: dict[str, str] = {}
    for folder in folders:
        readme = storage.join(folder, "README.md")
        if not storage.exists(readme):
            continue
        per_source, folder_licence = readme_licences(storage.read_bytes(readme).decode("utf-8", "replace"))
        table.update(per_source)
        if folder_licence:
            whole[folder] = folder_licence
    only = whole.get(folders[0]) if len(folders) == 1 else None
    return {src: table.get(src, only) for src in sources}


def _front_matter(stats: dict, manifest: dict, licences: dict[str, str | None]) -> dict:
    languages = [lang for lang, row in stats["languages"].items() if row["kept"] and lang != "und"]
    ids = {src: hub_licence(text) if text else "unknown" for src, text in licences.items()}
    meta = {
        "pretty_name": f"ROOTS corpus {manifest['name']}" if manifest.get("name") else "ROOTS corpus release",
        **({"language": languages, "multilinguality": "multilingual" if len(languages) > 1 else "monolingual"}
           if languages else {}),  # a release that kept nothing has no language
        "size_categories": [size_category(stats["kept"])],
        "source_datasets": [src for src in stats.get("sources", {}) if src != "(none)"],
        "task_categories": ["text-generation"],
        "task_ids": ["language-modeling"],
        "annotations_creators": ["no-annotation"],
        "language_creators": ["found"],
        "license": sorted(set(ids.values())) or ["unknown"],
        "tags": ["roots"],
    }
    other = {src: licences[src] for src, i in ids.items() if i == "other"}
    if other:  # the Hub's fields for terms that have no identifier
        meta["license_name"] = "per-source-terms"
        meta["license_details"] = "; ".join(f"{src}: {text}" for src, text in other.items())
    return meta


def _table(head: list[str], rows: list[list]) -> list[str]:
    def cell(v):
        return f"{v:,}" if isinstance(v, int) else str(v).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows), ""]


def dataset_card(stats: dict, manifest_like: dict) -> str:
    """README.md of a corpus release from its stats.json and its manifest's fields (config,
    code, inputs, run; a refresh's name and previous releases)."""
    inputs = manifest_like.get("inputs") or []
    sources = list(stats.get("sources", {}))
    licences = source_licences(sources, [i["path"] for i in inputs])
    meta = _front_matter(stats, manifest_like, licences)
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1 << 16).rstrip(), "---", "",
             f"# {meta['pretty_name']}", ""]
    run = manifest_like.get("run") or {}
    dropped = stats["dropped"]
    lines += [f"Made by `roots-pipeline {run.get('command', 'run')}`"
              + (f" on {manifest_like['created']}" if manifest_like.get("created") else "")
              + (f", after {', '.join(manifest_like['previous'])}" if manifest_like.get("previous") else "") + ". "
              f"{stats['kept']:,} of {stats['read']:,} documents kept ({stats['bytes']['kept']:,} of "
              f"{stats['bytes']['read']:,} bytes of text); {stats['malformed']:,} malformed records set aside. "
              "Kept documents are in `data/`, dropped ones with their reason in `dropped/`, the run's counts in "
              "`stats.json` and `funnel.html`, the digest of every file in `manifest.json`.", ""]
    lines += ["## Filter funnel", ""]
    lines += _table(["stage", "removed", "remaining"],
                    [[r["stage"], r.get("removed", ""), r["remaining"]] for r in stats["funnel"]])
    dedup = [r for r in dropped if r.startswith("duplicate_")]
    lines += ["## Deduplication", "",
              f"Methods: {', '.join(run.get('dedup') or []) or 'none'}. Documents dropped as duplicates: "
              + (", ".join(f"{r} {dropped[r]:,}" for r in dedup) if dedup else "none") + ".", ""]
    pii = stats.get("pii_redacted") or {}
    lines += ["## Personal information", "",
              "Redactions in the kept and dropped text, by kind: "
              + (", ".join(f"{kind} {n:,}" for kind, n in pii.items()) if pii else "none") + ".", ""]
    lines += ["## Languages", ""]
    lines += _table(["language", "read", "kept", "dropped", "kept bytes"],
                    [[lang, r["read"], r["kept"], r["dropped"], r["kept_bytes"]] for lang, r in stats["languages"].items()])
    lines += ["## Sources", "", "Licences as stated by the README beside the input files (— where none does).", ""]
    lines += _table(["source", "read", "kept", "main drop reasons", "licence"],
                    [[src, r["read"], r["kept"],
                      ", ".join(f"{k} {n:,}" for k, n in sorted(r["dropped"].items(), key=lambda kv: -kv[1])[:3]),
                      licences[src] or "—"] for src, r in stats.get("sources", {}).items()])
    if inputs:
        lines += ["## Inputs", ""]
        lines += _table(["path", "bytes", "fingerprint"], [[f"`{i['path']}`", i["bytes"], f"`{i['fingerprint']}`"]
                                                         for i in inputs])
    config, code = manifest_like.get("config") or {}, manifest_like.get("code") or {}
    if code:
        lines += ["## Code", "", f"roots {code.get('version')}, git commit `{code.get('git_commit') or 'none'}`, "
                  f"pipelines code digest `{code.get('pipelines_sha256')}`.", ""]
    if config.get("text"):
        lines += ["## Config", "", f"Resolved config (sha256 `{config.get('sha256')}`"
                  + (f", from `{config['path']}`" if config.get("path") else ", the defaults") + "):", "",
                  "```yaml", config["text"].rstrip(), "```", ""]
    return "\n".join(lines)

"""Task definitions: YAML data (dataset, prompt, few-shot, output type, metrics), parsed here.

A task turns dataset rows ("docs") into model requests and says how to score the outputs;
it holds no model or metric code of its own.
"""
from __future__ import annotations

import hashlib
import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
OUTPUT_TYPES = ("multiple_choice", "generate_until", "loglikelihood_rolling")
CATEGORIES = ("classification", "translation", "qa", "summarization", "language_modeling")
# categories whose primary metric is better when lower (left out of leaderboard averages)
LOWER_IS_BETTER = ("language_modeling",)


class TaskError(ValueError):
    """A task file or its dataset is unusable; the message names the file and the field."""


@dataclass
class MetricSpec:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    name: str
    version: int
    language: str
    category: str
    output_type: str
    dataset: str  # folder in the ROOTS data directory
    data_file: str  # a json/jsonl/parquet/csv file in it (read through datasets, as load_dataset is)
    prompt: str
    metrics: list[MetricSpec]
    primary_metric: str
    source_file: Path
    description: str = ""
    num_fewshot: int = 0
    fewshot_seed: int = 1234
    # where few-shot examples come from: a separate split of the dataset folder (best), or else
    # the evaluated file minus the evaluated doc, the docs within `fewshot_exclude_window` rows of
    # it (neighbouring sentences of one news article) and the docs sharing its `fewshot_group_field`
    fewshot_file: str | None = None
    fewshot_group_field: str | None = None
    fewshot_exclude_window: int = 0
    subset_seed: int = 0
    fewshot_separator: str = "\n\n"
    filter: dict[str, Any] = field(default_factory=dict)
    # instead of dataset/file: any `datasets.load_dataset` source (roots_model.hfdata.load_rows);
    # relative data_files are taken inside the dataset folder of the ROOTS data directory
    load_dataset: dict[str, Any] | None = None
    # multiple_choice
    label_field: str = "label"
    labels_file: str | None = None
    labels_key: str | None = None
    verbalizer: dict[str, str] = field(default_factory=dict)
    choice_prefix: str = " "
    classifier_input: str | None = None
    # generate_until
    target: str | None = None  # how a few-shot example's answer is written after its prompt
    references: list[str] = field(default_factory=list)  # templates
    references_field: str | None = None  # "answers.text": every `text` of the list `answers`
    until: list[str] = field(default_factory=lambda: ["\n"])
    max_new_tokens: int = 64

    # -- dataset -----------------------------------------------------------------------------
    def data_path(self, data_file: str | None = None) -> Path:
        from pipelines.datadir import dataset_path

        return dataset_path(self.dataset) / (data_file or self.data_file)

    def required_fields(self) -> set[str]:
        templates = [self.prompt, *self.references]
        if self.target:
            templates.append(self.target)
        if self.classifier_input:
            templates.append(self.classifier_input)
        fields = {f for t in templates for f in template_fields(t)} | set(self.filter)
        if self.output_type == "multiple_choice":
            fields.add(self.label_field)
        if self.references_field:
            fields.add(self.references_field.split(".")[0])
        if self.fewshot_group_field:
            fields.add(self.fewshot_group_field)
        return fields

    def load_docs(self, data_file: str | None = None) -> list[dict]:
        """All rows that pass the filter, each checked for the fields the templates use.
        Each doc records its position among them (ROW_KEY), which few-shot exclusion uses.

        Every source is read by `datasets.load_dataset` (roots_model.hfdata.load_rows): the
        task's file in the ROOTS data directory, or its `load_dataset` spec."""
        source = self.data_path(data_file) if self.load_dataset is None or data_file is not None \
            else self._dataset_spec()
        required = sorted(self.required_fields())
        docs = []
        for row, doc in enumerate(self._read(source), 1):
            self._keep(doc, row, required, source, docs)
        if not docs:
            raise TaskError(f"{self.name}: {source} has no rows matching filter {self.filter}")
        return docs

    def _read(self, source) -> list[dict]:
        from roots_model.hfdata import load_rows

        try:
            return load_rows(source)
        except Exception as exc:  # datasets raises its own types for unreadable or malformed files
            raise TaskError(f"{self.name}: cannot read dataset {source}: {exc}") from exc

    def _keep(self, doc: dict, row: int, required: list[str], source, docs: list[dict]) -> None:
        # datasets gives every row every column (None where a row lacks it): a row without
        # the filter's field is kept, as a row of a file that never has it
        if any(doc.get(k) is not None and doc[k] != v for k, v in self.filter.items()):
            return
        missing = [f for f in required if doc.get(f) is None]
        if missing:
            raise TaskError(
                f"{self.name}: {source} row {row}: missing field {missing[0]!r} "
                f"(the task {self.source_file.name} needs {', '.join(required)})"
            )
        if doc.get("id") is None:
            doc["id"] = f"{self.name}-{row}"
        doc[ROW_KEY] = len(docs)
        docs.append(doc)

    def _dataset_spec(self):
        """The `load_dataset` mapping, relative data_files resolved in the dataset folder; a
        bare local {path: file-or-folder} as that path."""
        spec = dict(self.load_dataset)
        if "data_files" in spec and self.dataset:
            from pipelines.datadir import dataset_path

            files = spec["data_files"]
            resolve = lambda f: f if Path(f).is_absolute() else str(dataset_path(self.dataset) / f)  # noqa: E731
            spec["data_files"] = [resolve(f) for f in files] if isinstance(files, list) else resolve(files)
        if set(spec) == {"path"} and Path(spec["path"]).exists():
            return Path(spec["path"])  # a local file or a save_to_disk folder
        return spec

    def dataset_hash(self) -> str:
        if self.load_dataset is not None:
            rows = json.dumps(self._read(self._dataset_spec()), sort_keys=True, ensure_ascii=False, default=str)
            return "sha256:" + hashlib.sha256(rows.encode()).hexdigest()
        return "sha256:" + hashlib.sha256(self.data_path().read_bytes()).hexdigest()

    def select(self, docs: list[dict], limit: int | None) -> list[dict]:
        """A stable subset: docs ordered by a seeded hash of their id, first `limit` kept.

        The order does not depend on file order or on `limit`, so --limit 10 is a prefix of
        --limit 50 and every model is scored on the same rows.
        """
        ordered = sorted(docs, key=lambda d: hashlib.sha256(f"{self.subset_seed}:{d['id']}".encode()).hexdigest())
        return ordered if limit is None else ordered[:limit]

    # -- prompts -----------------------------------------------------------------------------
    def choices(self) -> list[tuple[Any, str]]:
        """(label value, verbalizer) for every class, in labels-file order."""
        if self.verbalizer:
            return [(_label_value(k), v) for k, v in self.verbalizer.items()]
        from pipelines.datadir import dataset_path

        path = dataset_path(self.dataset) / (self.labels_file or "labels.json")
        try:
            labels = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TaskError(f"{self.name}: cannot read labels file {path}: {exc}") from exc
        out = []
        for key, value in labels.items():
            if isinstance(value, dict):
                if not self.labels_key or self.labels_key not in value:
                    raise TaskError(f"{self.name}: {path} entry {key!r} has no field {self.labels_key!r} (labels_key in {self.source_file.name})")
                value = value[self.labels_key]
            out.append((_label_value(key), str(value)))
        return out

    def gold_index(self, doc: dict, choices: list[tuple[Any, str]]) -> int:
        values = [str(v) for v, _ in choices]
        label = str(doc[self.label_field])
        if label not in values:
            raise TaskError(f"{self.name}: doc {doc['id']}: label {label!r} is not among the task's choices")
        return values.index(label)

    def render(self, template: str, doc: dict) -> str:
        try:
            return template.format(**doc)
        except (KeyError, IndexError, AttributeError, TypeError) as exc:
            raise TaskError(f"{self.name}: doc {doc.get('id')}: template {template!r} cannot be filled ({exc!r})") from exc

    def answer_text(self, doc: dict, choices: list[tuple[Any, str]] | None = None) -> str:
        """A doc's answer as written after its prompt (few-shot examples)."""
        if self.output_type == "multiple_choice":
            choices = choices or self.choices()
            return self.choice_prefix + choices[self.gold_index(doc, choices)][1]
        if self.target:
            return self.render(self.target, doc)
        return " " + self.reference_list(doc)[0]

    def reference_list(self, doc: dict) -> list[str]:
        if self.references_field:
            head, _, key = self.references_field.partition(".")
            items = doc[head]
            refs = [item[key] if key else item for item in items]
        else:
            refs = [self.render(t, doc) for t in self.references]
        refs = [r for r in refs if r]
        if not refs:
            raise TaskError(f"{self.name}: doc {doc['id']}: no reference text ({self.references_field or self.references})")
        return refs

    def fewshot_pool(self, pool: list[dict]) -> list[dict]:
        """The docs few-shot examples are drawn from: the separate split when the task names one
        (loaded once), else the evaluated docs themselves."""
        if not self.fewshot_file:
            return pool
        cached = self.__dict__.get("_fewshot_docs")
        if cached is None:
            cached = self.__dict__["_fewshot_docs"] = self.load_docs(self.fewshot_file)
        return cached

    def fewshot_examples(self, doc: dict, pool: list[dict]) -> list[dict]:
        """`num_fewshot` docs drawn by a generator seeded per doc (independent of --limit), never
        the doc itself, a doc sharing its group, or (from the evaluated file) one of its neighbours."""
        if self.num_fewshot <= 0:
            return []
        candidates = self.fewshot_pool(pool)
        same_file = candidates is pool
        group = doc.get(self.fewshot_group_field) if self.fewshot_group_field else None
        row = doc.get(ROW_KEY)

        def allowed(other: dict) -> bool:
            if other["id"] == doc["id"]:
                return False
            if group is not None and other.get(self.fewshot_group_field) == group:
                return False
            if same_file and row is not None and abs(other.get(ROW_KEY, -10**9) - row) <= self.fewshot_exclude_window:
                return False
            return True

        rng = random.Random(f"{self.fewshot_seed}/{doc['id']}")
        shots = []
        for j in _lazy_permutation(len(candidates), rng):
            if allowed(candidates[j]):
                shots.append(candidates[j])
                if len(shots) == self.num_fewshot:
                    break
        return shots

    def fewshot_settings(self) -> dict:
        """What results record about the few-shot draw (comparisons need it)."""
        return {"num_fewshot": self.num_fewshot, "seed": self.fewshot_seed,
                "source": self.fewshot_file or self.data_file, "separate_split": bool(self.fewshot_file),
                "group_field": self.fewshot_group_field,
                "exclude_window": None if self.fewshot_file else self.fewshot_exclude_window}

    def context_with_shots(self, doc: dict, pool: list[dict], choices=None) -> tuple[str, list]:
        """(prompt, ids of the few-shot examples in it)."""
        shots = self.fewshot_examples(doc, pool)
        parts = [self.render(self.prompt, d) + self.answer_text(d, choices) for d in shots]
        return self.fewshot_separator.join([*parts, self.render(self.prompt, doc)]), [d["id"] for d in shots]

    def context(self, doc: dict, pool: list[dict], choices=None) -> str:
        return self.context_with_shots(doc, pool, choices)[0]


ROW_KEY = "_row"  # a doc's position among the task's filtered rows (not a template field)


def _lazy_permutation(n: int, rng: random.Random):
    """Yields range(n) in a random order, drawing only as many as are consumed (Fisher-Yates
    on a dict): a few shots from a large pool cost a few draws, not a shuffle of the pool."""
    swapped: dict[int, int] = {}
    for t in range(n):
        r = rng.randrange(t, n)
        yield swapped.get(r, r)
        swapped[r] = swapped.get(t, t)


def template_fields(template: str) -> set[str]:
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name:
            names.add(name.split("[")[0].split(".")[0])
    return names


def _label_value(key: str):
    return int(key) if str(key).lstrip("-").isdigit() else key


# -- parsing --------------------------------------------------------------------------------
_REQUIRED = ("task", "version", "language", "category", "output_type", "dataset", "prompt", "metrics", "primary_metric")


def load_task(path: str | Path) -> Task:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaskError(f"task file {path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise TaskError(f"task file {path}: malformed YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise TaskError(f"task file {path}: expected a mapping at the top level")
    for key in _REQUIRED:
        if key not in raw:
            raise TaskError(f"task file {path}: missing field {key!r}")

    def bad(field_name, why):
        return TaskError(f"task file {path}: field {field_name!r} {why}")

    if raw["output_type"] not in OUTPUT_TYPES:
        raise bad("output_type", f"must be one of {OUTPUT_TYPES}, got {raw['output_type']!r}")
    if raw["category"] not in CATEGORIES:
        raise bad("category", f"must be one of {CATEGORIES}, got {raw['category']!r}")
    dataset = raw["dataset"]
    if not isinstance(dataset, dict) or not ({"name", "file"} <= set(dataset) or "load_dataset" in dataset):
        raise bad("dataset", "must be a mapping with 'name' and 'file', or with 'load_dataset'")
    if "load_dataset" in dataset and not isinstance(dataset["load_dataset"], dict):
        raise bad("dataset", "'load_dataset' must be a mapping of datasets.load_dataset arguments")
    metrics = []
    for i, m in enumerate(raw["metrics"] or []):
        if isinstance(m, str):
            m = {"name": m}
        if not isinstance(m, dict) or "name" not in m:
            raise bad(f"metrics[{i}]", "must be a metric name or a mapping with 'name'")
        metrics.append(MetricSpec(m["name"], dict(m.get("args") or {})))
    if not metrics:
        raise bad("metrics", "must list at least one metric")
    from roots_eval.metrics import available

    for m in metrics:
        if m.name not in available():
            raise bad("metrics", f"names unknown metric {m.name!r} (available: {', '.join(available())})")
    choices = raw.get("choices") or {}
    generation = raw.get("generation") or {}
    fewshot = raw.get("fewshot") or {}
    if not isinstance(fewshot, dict) or set(fewshot) - {"file", "group_field", "exclude_window"}:
        raise bad("fewshot", "must be a mapping with any of 'file', 'group_field', 'exclude_window'")
    try:
        task = Task(
            name=str(raw["task"]),
            version=int(raw["version"]),
            language=str(raw["language"]),
            category=raw["category"],
            output_type=raw["output_type"],
            dataset=str(dataset.get("name", "")),
            data_file=str(dataset.get("file", "")),
            load_dataset=dataset.get("load_dataset"),
            filter=dict(dataset.get("filter") or {}),
            prompt=str(raw["prompt"]),
            metrics=metrics,
            primary_metric=str(raw["primary_metric"]),
            source_file=path,
            description=str(raw.get("description", "")),
            num_fewshot=int(raw.get("num_fewshot", 0)),
            fewshot_seed=int(raw.get("fewshot_seed", 1234)),
            subset_seed=int(raw.get("subset_seed", 0)),
            fewshot_separator=str(raw.get("fewshot_separator", "\n\n")),
            fewshot_file=fewshot.get("file"),
            fewshot_group_field=fewshot.get("group_field"),
            fewshot_exclude_window=int(fewshot.get("exclude_window", 0)),
            label_field=str(choices.get("label_field", "label")),
            labels_file=choices.get("labels_file"),
            labels_key=choices.get("labels_key"),
            verbalizer={str(k): str(v) for k, v in (choices.get("verbalizer") or {}).items()},
            choice_prefix=str(choices.get("prefix", " ")),
            classifier_input=raw.get("classifier_input"),
            target=raw.get("target"),
            references=[str(r) for r in (raw.get("references") or [])],
            references_field=raw.get("references_field"),
            until=[str(u) for u in generation.get("until", ["\n"])],
            max_new_tokens=int(generation.get("max_new_tokens", 64)),
        )
    except (TypeError, ValueError) as exc:
        raise TaskError(f"task file {path}: a field has the wrong type ({exc})") from exc
    if task.output_type == "generate_until" and not (task.references or task.references_field):
        raise bad("references", "is required for generate_until tasks (or give references_field)")
    if task.output_type == "multiple_choice" and not (task.verbalizer or "labels_file" in choices or "labels_key" in choices):
        raise bad("choices", "needs a verbalizer or a labels_file for multiple_choice tasks")
    return task


def builtin_task_files() -> list[Path]:
    return sorted(TASKS_DIR.glob("*.yaml"))


def load_tasks(spec: str = "all", extra_dirs: list[Path] | None = None) -> tuple[list[Task], dict[str, str]]:
    """Tasks named by `spec` (comma list of names, categories, languages or "all").

    Returns (tasks, errors): a broken task file is reported by file name and does not stop
    the others from loading.
    """
    files = builtin_task_files() + [f for d in (extra_dirs or []) for f in sorted(Path(d).glob("*.yaml"))]
    tasks, errors = [], {}
    for f in files:
        try:
            tasks.append(load_task(f))
        except TaskError as exc:
            errors[f.stem] = str(exc)
    wanted = {s.strip() for s in spec.split(",") if s.strip()}
    if "all" in wanted:
        return tasks, errors
    chosen = [t for t in tasks if wanted & {t.name, t.dataset, t.category, t.language}]
    known = {key for t in tasks for key in (t.name, t.dataset, t.category, t.language)}
    wanted_errors = {}
    for w in wanted:
        if w in errors:
            wanted_errors[w] = errors[w]
        elif w not in known:
            wanted_errors[w] = f"unknown task {w!r}; see `roots-eval list-tasks`"
    return chosen, wanted_errors

"""A model card in the Hugging Face Hub's format for each roots_model checkpoint (or classifier
fine-tuned from one) on a leaderboard: SITE/cards/<slug>/README.md, written by
`roots-eval leaderboard`.

Its model-index holds the model's leaderboard scores, from every row it has (one row per
results file: the same checkpoint scored with another --limit is a row of another group): each
task's primary metric as the leaderboard shows it, with the task data digest as the dataset
revision. `datasets` names the corpus release the checkpoint was trained on (traced by
roots_eval.lineage), and the body carries the training config from the checkpoint's
state.json. The front matter is written with PyYAML, so the card does not depend on
huggingface_hub (the tests parse it with huggingface_hub's ModelCard).
"""
from __future__ import annotations

import yaml

from roots_eval.lineage_page import first, readable_checkpoint, release_stats

# roots_eval task categories -> the Hub's task types
HUB_TASK = {"classification": "text-classification", "translation": "translation", "qa": "question-answering",
            "summarization": "summarization", "language_modeling": "text-generation"}
_PIPELINE_TAG = {"ar": "text-generation", "mlm": "fill-mask"}
_MODEL_KINDS = ("classifier", "checkpoint")  # the links that say which model a row scored


def model_key(links) -> str | None:
    """Which model a card is about: the digest of the fine-tuned classifier, else of the
    checkpoint; None when the chain has no checkpoint whose state.json could be read."""
    ckpt = readable_checkpoint(links)
    if ckpt is None:
        return None
    model = first(links, "classifier") or ckpt
    return model.digest or model.path


def _eval_results(entry: dict, data: dict) -> list[dict]:
    out = []
    for task, value in entry["scores"].items():
        result = data["results"][task]
        dataset = result["dataset"]
        out.append({
            "task": {"type": HUB_TASK.get(result["category"], "text-generation"), "name": task},
            "dataset": {"type": dataset["name"], "name": task, "revision": dataset["hash"],
                        "args": {"num_fewshot": result.get("num_fewshot"), "limit": data["config"].get("limit")}},
            "metrics": [{"type": result["primary_metric"], "value": value,
                         "name": f"{result['primary_metric']} ({result['n']} documents)"}],
        })  # no `source`: the Hub wants a URL with it, and a leaderboard folder has none
    return out


def _front_matter(rows, links, config: dict, stats: dict | None) -> dict:
    meta = {}
    if stats:
        meta["language"] = [lang for lang, row in stats["languages"].items() if row["kept"] and lang != "und"]
    meta["tags"] = ["roots"]
    if first(links, "classifier") is not None:
        meta["pipeline_tag"] = "text-classification"
    elif config.get("objective") in _PIPELINE_TAG:
        meta["pipeline_tag"] = _PIPELINE_TAG[config["objective"]]
    release = first(links, "corpus-release")
    if release is not None:
        meta["datasets"] = [release.data["folder"]]
    meta["model-index"] = [{"name": rows[0][0]["id"],
                            "results": [r for entry, data in rows for r in _eval_results(entry, data)]}]
    return meta


def model_card(rows: list[tuple[dict, dict]], links: list) -> str:
    """README.md of the model behind leaderboard rows `rows` ([(leaderboard.json model entry,
    results), ...], all of one model) with its traced lineage `links`."""
    ckpt, classifier = readable_checkpoint(links), first(links, "classifier")
    release, tokens = first(links, "corpus-release"), first(links, "tokens")
    state = ckpt.data["state"]
    config = state.get("train_config") or {}
    stats = release_stats(release) if release else None
    params = rows[0][1]["model"].get("parameters")
    lines = ["---", yaml.safe_dump(_front_matter(rows, links, config, stats), sort_keys=False, allow_unicode=True,
                                   width=1 << 16).rstrip(), "---", "", f"# {rows[0][0]['id']}", "",
             (f"A text classifier, `{classifier.path}` (digest `{classifier.digest}`), fine-tuned from a "
              if classifier is not None else "A ")
             + f"ROOTS `{config.get('preset', '?')}` model: checkpoint `{ckpt.path}` (digest `{ckpt.digest}`), "
             f"step {state.get('step')}" + (f", {params:,} parameters" if isinstance(params, int) else "") + ".", ""]
    lines += ["## Training data", ""]
    if release:
        lines += [f"Corpus release `{release.data['folder']}` (manifest digest `{release.digest}`; its dataset card "
                  f"is the release's README.md)"
                  + (f": {stats['kept']:,} documents kept of {stats['read']:,} read" if stats else "") + ", "
                  f"tokenized into the shards of `{tokens.path}` (digest `{tokens.digest}`).", ""]
    else:
        lines += ["Not traced to a corpus release: the checkpoint's lineage stops before one "
                  "(`roots-eval lineage` shows where).", ""]
    lines += ["## Evaluation", "", "Scores as on the ROOTS leaderboard (each task's primary metric; the dataset "
              "revision is the digest of the task data file), from these results files:", "",
              *(f"- `{entry['results']['path']}` (sha256 `{entry['results']['sha256']}`, limit "
                f"{data['config'].get('limit')})" for entry, data in rows), "",
              "| task | metric | limit | value | task data |", "|---|---|---|---|---|"]
    for entry, data in rows:
        for task, value in entry["scores"].items():
            result = data["results"][task]
            lines.append(f"| {task} | {result['primary_metric']} | {data['config'].get('limit')} | {value:.2f} "
                         f"| `{result['dataset']['hash']}` |")
    chain = links[next(i for i, link in enumerate(links) if link.kind in _MODEL_KINDS):]
    lines += ["", "## Training config", "", f"From the {'base ' if classifier else ''}checkpoint's state.json:", "",
              "```yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True).rstrip(), "```", "",
              "## Lineage", "", "| kind | path | digest |", "|---|---|---|",
              *(f"| {link.kind} | `{link.path}` | `{link.digest}` |" for link in chain), ""]
    return "\n".join(lines)

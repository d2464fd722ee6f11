"""The Hugging Face backend (`roots_eval.models.hf.HFCausalLM`, optional extra roots[hf]) run for
real: a tiny trained roots_model checkpoint is exported with `roots_model.export.export_llama`
and scored through transformers and through the native roots backend, request by request and
through `roots-eval run`. Same tokens must give the same log-likelihoods (1e-4) and the same
greedy continuations; the metric values of a CLI run must be equal.

The trained tiny model's greedy continuations are mostly repetitive ("", "，，，"), which would
let a position or padding bug through; a second checkpoint, the trained weights with strong
Gaussian noise on every layer matrix, continues each prompt differently and is compared too.
"""
import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("transformers", reason="optional extra roots[hf] not installed")
testing = pytest.importorskip("roots_model.testing", reason="roots_model is not available")
pytestmark = pytest.mark.slow

import torch  # noqa: E402

from roots_eval.cli import main  # noqa: E402
from roots_eval.models import GenerationRequest, LoglikelihoodRequest, load_model  # noqa: E402
from roots_eval.models.hf import HFCausalLM  # noqa: E402
from roots_eval.models.roots import RootsLM  # noqa: E402
from roots_eval.task import load_tasks  # noqa: E402

LL_TOL = 1e-4


def _perturbed(checkpoint, output, scale=10.0, seed=0):
    """The trained weights with Gaussian noise (10x each matrix's std) on every layer matrix; the
    embedding is kept, so the continuations are token salad but differ from prompt to prompt."""
    from roots_model import checkpoint as ckpt

    loaded = ckpt.load(checkpoint)
    gen = torch.Generator().manual_seed(seed)
    state = {k: v + scale * v.std() * torch.randn(v.shape, generator=gen) if v.ndim == 2 and "embed" not in k else v
             for k, v in loaded.model.state_dict().items()}
    return ckpt.save(output, state, loaded.tokenizer, loaded.config)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from roots_model.export import export_llama

    root = tmp_path_factory.mktemp("hf")
    trained = testing.tiny_checkpoint(root, steps=40)
    perturbed = _perturbed(trained, root / "perturbed")
    return {
        "trained": (trained, export_llama(trained, root / "trained_hf")),
        "perturbed": (perturbed, export_llama(perturbed, root / "perturbed_hf")),
    }


def _pair(models, which, batch_size=4):
    native_path, hf_path = models[which]
    native = load_model(native_path, model_type="roots", batch_size=batch_size, show_progress=False)
    hf = load_model(hf_path, model_type="hf", batch_size=batch_size, show_progress=False)
    return native, hf


def _task_prompts(limit=6):
    """Real prompts of a zh and an en classification task, a translation and a (long, truncated)
    summarisation task, with their choices."""
    tasks = {t.name: t for t in load_tasks("cls_sst2,cls_chnsenticorp,mt_flores200_zh-en,sum_xsum")[0]}
    out = []
    for name, task in tasks.items():
        pool = task.load_docs()
        choices = task.choices() if task.output_type == "multiple_choice" else None
        for doc in task.select(pool, limit):
            out.append((task, task.context(doc, pool, choices), choices))
    return out


EDGE_CONTEXTS = [
    "",  # empty context: scored after BOS alone
    "a",
    "北京",
    "mixed 中英文 text, 数字 2024 and emoji 🙂",
    "a literal <|endoftext|> inside a document is text",
    "word " * 400,  # longer than block_size: left-truncated
]


def test_export_is_detected_and_loaded_as_hugging_face(models):
    _, hf_path = models["trained"]
    model = load_model(hf_path)  # auto-detection: config.json with model_type
    assert isinstance(model, HFCausalLM) and model.kind == "hf"
    meta = model.metadata()
    assert meta["type"] == "hf" and meta["checkpoint_hash"].startswith("sha256:")
    native = load_model(models["trained"][0])
    assert meta["parameters"] == native.metadata()["parameters"]
    assert model.max_length == native.max_length
    assert model.prepend_bos and model.bos_id() == native.bos_id()


def test_tokenization_is_identical(models):
    native, hf = _pair(models, "trained")
    texts = [ctx for _, ctx, _ in _task_prompts(3)] + EDGE_CONTEXTS
    for text in texts:
        assert hf.encode(text) == native.encode(text), text[:60]
        assert hf.decode(native.encode(text)) == native.tokenizer.decode(native.encode(text))


@pytest.mark.parametrize("which", ["trained", "perturbed"])
def test_loglikelihoods_match_native(models, which):
    native, hf = _pair(models, which)
    requests = []
    for task, context, choices in _task_prompts():
        if choices:
            requests += [LoglikelihoodRequest(context, task.choice_prefix + word) for _, word in choices]
        else:
            requests.append(LoglikelihoodRequest(context, " " + task.reference_list(task.load_docs()[0])[0][:80]))
    requests += [LoglikelihoodRequest(c, " positive") for c in EDGE_CONTEXTS]
    requests += [LoglikelihoodRequest("The capital of China is", " Beijing, 北京。")]
    got, want = hf.loglikelihood(requests), native.loglikelihood(requests)
    assert len(got) == len(want) == len(requests)
    for request, (ll_hf, greedy_hf), (ll_native, greedy_native) in zip(requests, got, want):
        assert ll_hf == pytest.approx(ll_native, abs=LL_TOL), request
        assert greedy_hf == greedy_native, request
    # the scores are real: different continuations of one context get different values
    assert len({round(ll, 3) for ll, _ in want}) > len(requests) // 2
    # and the comparison is sharp enough to catch a scoring difference: without the BOS the
    # exported model was trained behind, the HF backend's numbers move
    no_bos = HFCausalLM(models[which][1], batch_size=4, show_progress=False, prepend_bos=False)
    moved = [abs(a[0] - b[0]) for a, b in zip(no_bos.loglikelihood(requests), want)]
    assert max(moved) > 100 * LL_TOL


def test_loglikelihoods_do_not_depend_on_batch_size(models):
    _, hf_path = models["perturbed"]
    requests = [LoglikelihoodRequest(ctx, " yes") for _, ctx, _ in _task_prompts(4)] + \
        [LoglikelihoodRequest(c, "好") for c in EDGE_CONTEXTS]
    one = HFCausalLM(hf_path, batch_size=1, show_progress=False).loglikelihood(requests)
    many = HFCausalLM(hf_path, batch_size=16, show_progress=False).loglikelihood(requests)
    for (a, ga), (b, gb) in zip(one, many):
        assert a == pytest.approx(b, abs=LL_TOL) and ga == gb


@pytest.mark.parametrize("which", ["trained", "perturbed"])
def test_greedy_generation_matches_native(models, which):
    native, hf = _pair(models, which)
    contexts = [ctx for _, ctx, _ in _task_prompts(4)] + EDGE_CONTEXTS
    requests = [GenerationRequest(c, ("\n",), 12) for c in contexts]
    requests += [GenerationRequest(c, (), 20) for c in contexts]  # no stop string: the whole budget
    requests += [GenerationRequest(c, ("。", "."), 6) for c in contexts[::2]]
    requests += [GenerationRequest("北京", ("\n",), 300)]  # budget beyond block_size is capped
    got, want = hf.generate(requests), native.generate(requests)
    for request, a, b in zip(requests, got, want):
        assert a == b, (request.context[:60], request.until, a, b)
    free = [b for r, b in zip(requests, want) if not r.until]
    assert sum(len(t) for t in free) > 0  # generation happened
    if which == "perturbed":
        # the stress model continues different prompts differently
        assert len(set(free)) >= 0.8 * len(free)
        # and the comparison can fail: dropping the BOS changes some continuation
        no_bos = HFCausalLM(models[which][1], batch_size=4, show_progress=False, prepend_bos=False)
        assert no_bos.generate(requests) != want


def _cli(model, output, *extra):
    return main(["run", "--model", str(model), "--output", str(output), "--bootstrap-iters", "50", "--no-cache",
                 "--device", "cpu", "--batch-size", "4", *extra])


def _samples(results_path, entry):
    lines = (results_path.parent / entry["samples_file"]).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("which", ["trained", "perturbed"])
def test_cli_run_with_hf_backend_matches_native_checkpoint(models, which, tmp_path):
    native_path, hf_path = models[which]
    tasks = "cls_sst2,cls_chnsenticorp,mt_flores200_zh-en,sum_xsum"
    common = ("--tasks", tasks, "--limit", "6", "--max-new-tokens", "12")
    assert _cli(native_path, tmp_path / "native.json", *common) == 0
    assert _cli(hf_path, tmp_path / "hf.json", "--model-type", "hf", *common) == 0
    native = json.loads((tmp_path / "native.json").read_text(encoding="utf-8"))
    hf = json.loads((tmp_path / "hf.json").read_text(encoding="utf-8"))
    assert native["model"]["type"] == "roots" and hf["model"]["type"] == "hf"
    assert hf["errors"] == native["errors"] == {}
    assert sorted(hf["results"]) == sorted(native["results"]) == sorted(tasks.split(","))
    for name, want in native["results"].items():
        got = hf["results"][name]
        assert got["n"] == want["n"] == 6
        assert set(got["metrics"]) == set(want["metrics"]), name
        for metric, value in want["metrics"].items():
            if metric in ("accuracy", "acc_norm", "macro_f1"):
                assert got["metrics"][metric]["value"] == value["value"], (name, metric)
            else:
                assert got["metrics"][metric]["value"] == pytest.approx(value["value"], abs=1e-9), (name, metric)
        assert got["signatures"] == want["signatures"]
        for a, b in zip(_samples(tmp_path / "hf.json", got), _samples(tmp_path / "native.json", want)):
            assert (a["doc_id"], a["prompt"], a["output"]) == (b["doc_id"], b["prompt"], b["output"]), name
            if "loglikelihoods" in b:
                assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=LL_TOL)

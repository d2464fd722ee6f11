"""What the packages promise at their tops: one ConfigError every package raises and catches,
`from roots_model import LanguageModel, TextClassifier`, roots_eval's entry point, each
resolved lazily so that roots_model.data (tokenizer workers) imports without torch."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_one_config_error_across_the_packages():
    from pipelines.config import ConfigError as from_pipeline_config
    from pipelines.errors import ConfigError
    from roots_model.compress import CompressError
    from roots_model.train import ConfigError as from_training

    assert from_pipeline_config is ConfigError and from_training is ConfigError
    assert issubclass(CompressError, ConfigError) and issubclass(ConfigError, ValueError)
    packages = ("pipelines", "roots_model", "roots_eval", "roots_measure", "roots_demo")
    defining = [p.relative_to(ROOT).as_posix() for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))
                if "class ConfigError(" in p.read_text(encoding="utf-8")]
    assert defining == ["pipelines/errors.py"]


def test_the_package_tops_resolve_lazily_and_data_imports_without_torch():
    """In a fresh interpreter: tokenizer workers import roots_model.data without torch; the
    public names are the classes and function their modules define."""
    code = """
import sys
import roots_model, roots_model.data, roots_eval
assert "torch" not in sys.modules, "roots_model.data / the package tops imported torch"
from roots_model import LanguageModel, TextClassifier
from roots_eval import EvalConfig, EvalModel, evaluate
import roots_model.classifier, roots_model.lm, roots_eval.evaluator, roots_eval.models.base, roots_eval.runner
assert LanguageModel is roots_model.lm.LanguageModel and TextClassifier is roots_model.classifier.TextClassifier
assert evaluate is roots_eval.runner.evaluate and EvalModel is roots_eval.models.base.EvalModel
assert EvalConfig is roots_eval.evaluator.EvalConfig
assert {"LanguageModel", "TextClassifier"} <= set(dir(roots_model))
try:
    roots_model.NoSuchName
except AttributeError:
    pass
else:
    raise AssertionError("an unknown name resolved")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_evaluate_scores_a_model_object_on_named_tasks(tmp_path):
    from roots_eval import EvalConfig, evaluate
    from roots_eval.task import load_tasks
    from roots_eval.testing import ReferenceCopyModel

    tasks, _ = load_tasks("cls_sst2,qa_cmrc2018_dev")
    results = evaluate(ReferenceCopyModel(tasks, 3), "cls_sst2,qa_cmrc2018_dev,no_such_task", tmp_path / "r.json",
                       EvalConfig(limit=3), device="cpu")
    assert set(results["results"]) == {"cls_sst2", "qa_cmrc2018_dev"}
    assert "unknown task 'no_such_task'" in results["errors"]["no_such_task"]
    assert results["results"]["cls_sst2"]["metrics"]["accuracy"]["value"] == 100.0
    assert (tmp_path / "r.json").is_file()


def test_pipelines_run_resolves_lazily():
    """`from pipelines import run, RunOptions`: the run API of pipelines.api, and importing the
    package itself imports no Beam (its workers and the model side import it first)."""
    code = """
import sys
import pipelines
assert "apache_beam" not in sys.modules, "import pipelines imported Beam"
from pipelines import RunOptions, UsageError, run
import pipelines.api
assert run is pipelines.api.run and RunOptions is pipelines.api.RunOptions and UsageError is pipelines.api.UsageError
assert {"run", "RunOptions"} <= set(dir(pipelines))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr

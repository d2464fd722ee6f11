"""ROOTS evaluation harness: `from roots_eval import evaluate`.

    results = evaluate("ckpt/", tasks="zh", output="results/ckpt.json")   # = roots-eval run
    # a model of your own: subclass EvalModel (loglikelihood, generate) and pass it as `model`

The names resolve on first use, so `import roots_eval` loads neither torch nor the task registry.
"""
from pipelines.lazy import lazy_exports

_EXPORTS = {"evaluate": "roots_eval.runner", "EvalConfig": "roots_eval.evaluator", "EvalModel": "roots_eval.models.base"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Accuracy and macro-F1 (0-100) for integer class predictions.

Macro-F1 averages per-class F1 over the classes that occur in the references or the
predictions (scikit-learn's default label set), so a class that is never predicted and
never gold does not dilute the average.
"""
import datasets
import evaluate
import numpy


def macro_f1(predictions, references):
    predictions, references = numpy.asarray(predictions), numpy.asarray(references)
    labels = numpy.union1d(predictions, references)
    if labels.size == 0:
        return 0.0
    tp = numpy.array([numpy.sum((predictions == c) & (references == c)) for c in labels], dtype=float)
    support = numpy.array([numpy.sum(predictions == c) + numpy.sum(references == c) for c in labels], dtype=float)
    return 100.0 * float(numpy.mean(2 * tp / support))


class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Accuracy and macro-averaged F1 for classification.",
            citation="",
            inputs_description="predictions: predicted class ids; references: gold class ids; per_sample: bool; "
            "bootstrap_iters, seed: bootstrap standard error of macro_f1 under 'stderr'.",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, per_sample=False, bootstrap_iters=0, seed=1234):
        correct = [100.0 * (p == r) for p, r in zip(predictions, references)]
        result = {
            "accuracy": sum(correct) / max(len(correct), 1),
            "macro_f1": macro_f1(predictions, references),
        }
        n = len(predictions)
        if bootstrap_iters and n > 1:
            rng = numpy.random.default_rng(seed)
            preds, refs = numpy.asarray(predictions), numpy.asarray(references)
            draws = [macro_f1(preds[idx], refs[idx]) for idx in (rng.integers(0, n, n) for _ in range(bootstrap_iters))]
            result["stderr"] = {"macro_f1": float(numpy.std(draws, ddof=1))}
        if per_sample:
            result["per_sample"] = {"accuracy": correct}
        return result

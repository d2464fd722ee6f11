"""The data ablation's arm (2) config restores the ROOTS 2022 bounds, and its noise verdict."""
import importlib.util

import pytest

from pipelines.config import PipelineConfig

CONFIG = "benchmarks/configs/roots_2022_thresholds.yaml"  # in the checkout (repo_root)

# pipelines/config/default.yaml at b50d220, the last commit with the bounds copied from ROOTS.
ROOTS_2022 = {
    "word_count": {"zh": (1, 1000000), "en": (20, 100000), "default": (10, 100000)},
    "mean_word_length": {"zh": (None, None), "en": (3, 10), "default": (None, None)},
    "char_repetition": {"zh": (None, 0.2), "en": (None, 0.106), "default": (None, 0.2)},
    "word_repetition": {"zh": (None, 0.96), "en": (None, 0.19), "default": (None, 0.3)},
    "special_characters": {"zh": (None, 0.3), "en": (None, 0.4), "default": (None, 0.4)},
    "stopwords": {"zh": (0.1691, None), "en": (0.3, None), "default": (0.1, None)},
    "flagged_words": {"zh": (None, 0.001), "en": (None, 0.01), "default": (None, 0.1)},
    "ellipsis_lines": {"zh": (None, 0.3), "en": (None, 0.3), "default": (None, 0.3)},
    "bullet_lines": {"zh": (None, 0.9), "en": (None, 0.9), "default": (None, 0.9)},
    "lorem_ipsum": {"zh": (None, 0), "en": (None, 0), "default": (None, 0)},
}
ADDED_SINCE = ("too_short", "word_diversity", "digit_ratio", "sentence_lines")


def _bounds(cfg):
    return {f.name: {lang: (f.bounds_for(lang).min, f.bounds_for(lang).max) for lang in ("zh", "en", "default")}
            for f in cfg.filters}


def test_roots_2022_config_restores_the_copied_bounds(repo_root):
    cfg = PipelineConfig.load(str(repo_root / CONFIG))
    bounds = _bounds(cfg)
    for name, expected in ROOTS_2022.items():
        assert bounds[name] == expected, name
    assert {lang: cfg.min_lang_score(lang) for lang in ("zh", "en", "de")} == {"zh": 0.85, "en": 0.80, "de": 0.80}


def test_roots_2022_config_disables_the_filters_added_since(repo_root):
    cfg = PipelineConfig.load(str(repo_root / CONFIG))
    bounds = _bounds(cfg)
    for name in ADDED_SINCE:
        assert all(b == (None, None) for b in bounds[name].values()), name
    assert cfg.min_words_any_script() == 0  # the too_short step before language ID is skipped
    # Everything the arm does not name is today's default (the two arms differ only in bounds).
    today = PipelineConfig.load()
    for section in ("read", "boilerplate", "pii", "segment", "chinese", "dedup", "signals"):
        assert cfg.to_dict().get(section) == today.to_dict().get(section), section
    assert _bounds(today) != bounds


@pytest.fixture(scope="module")
def bench(repo_root):
    spec = importlib.util.spec_from_file_location("bench_ablation", repo_root / "benchmarks" / "bench_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(per_seed):
    import statistics

    return {"bits_per_byte": {"mean": statistics.fmean(per_seed), "sd": statistics.stdev(per_seed),
                              "per_seed": per_seed}}


def test_seed_level_verdict(bench):
    summary = {"arms": {"a": {"scores": {"t": _row([3.00, 3.01, 3.02])}},
                        "b": {"scores": {"t": _row([3.20, 3.21, 3.22])}},
                        "c": {"scores": {"t": _row([2.90, 3.05, 3.15])}}}}
    clear = bench._seed_level(summary, "a", "b", "t")
    assert clear["delta"] == pytest.approx(0.2) and clear["within_noise"] is False
    assert bench._seed_level(summary, "a", "c", "t")["within_noise"] is True

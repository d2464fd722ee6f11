"""Model compression: int8 quantization, knowledge distillation and pruning.

    roots-train quantize --checkpoint ckpt/ --method int8-dynamic --output ckpt-int8/
    roots-train distill  --teacher ckpt/ --preset tiny --data out/ --output student/
    roots-train prune    --checkpoint ckpt/ --sparsity 0.5 --method magnitude --output ckpt-pruned/

Every output is an ordinary checkpoint folder (`roots_model.checkpoint.load` reads it,
`roots-eval run --model` scores it) plus `compression.json` (what was done, listed in the
checkpoint manifest) and `report.json` (size, parameters, CPU tokens/s, validation
perplexity and optional harness scores, each next to the original's). See docs/compress.md.
"""
from pipelines.errors import ConfigError


class CompressError(ConfigError):
    """Bad input to a compression command, raised before any work is done (the CLI exits 2)."""

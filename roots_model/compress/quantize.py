"""`roots-train quantize`: int8 dynamic quantization of a checkpoint's model.

The int8 model itself (storage format, `Int8Linear`, rebuilding on load) lives in
roots_model.quantized, below the checkpoint loader, so that loading an int8 checkpoint does
not depend on the compression commands.
"""
from __future__ import annotations

from roots_model.compress import CompressError
from roots_model.model import GPT
from roots_model.quantized import (METHODS, Int8Linear, build_quantized_model, count_parameters,  # noqa: F401
                                   quantize_state_dict)


def quantize_model(model: GPT, method: str = "int8-dynamic") -> GPT:
    """A quantized copy of `model` (eval mode, CPU); `model` itself is left as it is."""
    if method not in METHODS:
        raise CompressError(f"unknown quantization method {method!r}; supported: {', '.join(METHODS)}")
    config = model.config
    tensors = {name: t.detach().cpu() for name, t in model.state_dict().items()}
    return build_quantized_model(config, quantize_state_dict(tensors, config))

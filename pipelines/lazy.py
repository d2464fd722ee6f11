"""Public names of a package resolved on first use (PEP 562), for package tops that must stay
cheap to import: `pipelines` (`run` needs Beam; its workers import the package first),
`roots_model` (its `data` module runs in tokenizer workers without torch) and `roots_eval`."""
from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str]):
    """(__getattr__, __dir__) for `package`, whose name N in `exports` is `exports[N]`.N, imported
    when first asked for and then kept in the package like an ordinary attribute."""
    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__

"""The `web:` section of the pipeline config: its values in `pipelines/config/default.yaml`, its
types here and in the dataclasses of the modules that use them (`templates.TemplateConfig`,
`spam.SpamThresholds`); a wrong key or value is a ConfigError naming the file and key before
any work starts."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .spam import SpamThresholds
from .templates import TemplateConfig


@dataclass(frozen=True)
class WebConfig:
    max_body_mb: float = 10.0            # HTTP bodies past this (after content decoding) are dead-lettered
    extractor: str = "roots"
    guard: bool = True                    # extraction in a child process with a time and memory limit
    extract_timeout_s: float = 5.0
    extract_memory_mb: int = 2048
    url_blocklists: tuple = ()            # blocklist files (local or gs://)
    templates: TemplateConfig = field(default_factory=TemplateConfig)
    spam: SpamThresholds = field(default_factory=SpamThresholds)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * (1 << 20))

    @classmethod
    def from_dict(cls, raw: dict | None) -> "WebConfig":
        """Typed settings from the YAML mapping; ValueError("key.path: message") on a bad one."""
        return _build(cls, raw or {}, ())


_NUMBER = (int, float)


def _build(cls, raw, path: tuple):
    if not isinstance(raw, dict):
        raise ValueError(f"{'.'.join(path) or 'web'}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        where = ".".join((*path, str(key)))
        if key not in fields:
            raise ValueError(f"{where}: unknown setting (known: {', '.join(fields)})")
        default = fields[key].default if fields[key].default is not dataclasses.MISSING else fields[key].default_factory()
        if dataclasses.is_dataclass(default):
            values[key] = _build(type(default), value or {}, (*path, key))
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{where}: expected true or false, got {value!r}")
            values[key] = value
        elif isinstance(default, _NUMBER):
            if isinstance(value, bool) or not isinstance(value, _NUMBER) or value <= 0:
                raise ValueError(f"{where}: expected a positive number, got {value!r}")
            if isinstance(default, int) and not isinstance(value, int):
                raise ValueError(f"{where}: expected an integer, got {value!r}")
            values[key] = value
        elif isinstance(default, tuple):
            items = value or []
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise ValueError(f"{where}: expected a list of paths, got {value!r}")
            values[key] = tuple(items)
        else:
            if not isinstance(value, str):
                raise ValueError(f"{where}: expected a name, got {value!r}")
            values[key] = value
    return cls(**values)

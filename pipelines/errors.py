"""Errors shared by every package: one definition each, here in the lowest layer (pipelines <-
roots_model <- roots_eval) so that all of them can raise and catch the same class. A leaf
module: importing it costs nothing (roots_model's CLI and tokenizer workers import it)."""


class ConfigError(ValueError):
    """A setting is wrong (a config file key or a command-line flag); the message names it.
    Raised before any work is done; the CLIs exit 2 on it."""

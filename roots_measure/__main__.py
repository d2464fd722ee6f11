"""`python -m roots_measure` is `roots-measure`."""
from .cli import console_main

console_main()

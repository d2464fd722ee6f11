# Dataflow stages the package with `python setup.py sdist` (--setup_file); everything is
# declared in pyproject.toml.
from setuptools import setup

setup()

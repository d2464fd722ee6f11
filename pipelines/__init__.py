"""ROOTS corpus pipelines: clean, identify language, segment, filter and deduplicate raw text with Apache Beam."""

__version__ = "0.1.0"

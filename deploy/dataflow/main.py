"""Flex Template / Beam-operator entry point: `roots-pipeline refresh` with the given flags."""
import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["refresh", *sys.argv[1:]]))

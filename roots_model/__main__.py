"""`python -m roots_model ...` is `roots-train ...`; under torchrun:

    torchrun --nproc_per_node 8 -m roots_model pretrain --data out/ --tokenizer tok/ --strategy fsdp
"""
import sys

from roots_model.cli import main

sys.exit(main())

"""`python -m attnseq ...` is the `attnseq` command (also under `accelerate launch -m attnseq`)."""

import sys

from .cli import main

sys.exit(main())

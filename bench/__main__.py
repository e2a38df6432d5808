"""`python -m bench`: the end-to-end benchmarks (see bench.cli)."""

import sys

from bench.cli import main

sys.exit(main())

"""`python -m instabase_async`: the `instabase-async` command line (needs the `cli` extra)."""

import sys

from ._cli import main

sys.exit(main())

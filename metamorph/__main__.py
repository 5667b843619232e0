"""`python -m metamorph` is the `metamorph` command."""

import sys

from metamorph.cli import main

sys.exit(main())

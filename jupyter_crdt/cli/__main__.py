"""``python -m jupyter_crdt.cli``: the same as ``jupyter crdt``."""

import sys

from jupyter_crdt.cli import main

sys.exit(main())

"""``python -m bench``: run every workload for every installed competitor."""

import sys

from bench.runner import main

sys.exit(main())

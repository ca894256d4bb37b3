"""``python -m bench``: run the apiserver benchmark (same flags as ``python -m bench.apiserver``)."""

import sys

from bench.apiserver import main

sys.exit(main())

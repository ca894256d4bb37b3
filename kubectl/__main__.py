"""``python -m kubectl ...`` runs pykubectl."""

from kubectl.main import main

raise SystemExit(main())

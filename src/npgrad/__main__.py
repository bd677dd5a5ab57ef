"""``python -m npgrad``: the same command as the installed ``npgrad`` script."""

from npgrad.cli import main

raise SystemExit(main())

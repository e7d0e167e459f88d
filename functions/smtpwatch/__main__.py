"""``python -m smtpwatch``: the same command line as ``smtpwatch``."""

from smtpwatch.cli.main import main

raise SystemExit(main())

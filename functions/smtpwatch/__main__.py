from smtpwatch.cli.main import main

raise SystemExit(main())

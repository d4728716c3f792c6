"""``python -m forecaster`` is the same as the ``forecast`` command."""

from forecaster.cli.main import main

raise SystemExit(main())

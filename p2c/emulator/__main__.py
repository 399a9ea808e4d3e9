"""`python -m p2c.emulator`: see `p2c.emulator.cli`."""

from p2c.emulator.cli import main

raise SystemExit(main())

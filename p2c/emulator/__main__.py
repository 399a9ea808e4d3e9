"""`python -m p2c.emulator`: the `p2c emulator` command itself (its options are declared once, in
`p2c/cli.py`), so both spellings take the same options, print the same help and exit with the same codes."""

import sys

from p2c.cli import app

app(["emulator", *sys.argv[1:]], prog_name="p2c")

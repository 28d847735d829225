"""`python -m kyodo` is the `kyodo` command."""

from kyodo.cli import main

main()

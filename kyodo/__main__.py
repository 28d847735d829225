"""`python -m kyodo` is the `kyodo` command."""

from kyodo.entry import main

main()

"""``python -m consentry`` is the ``consentry`` command."""

from consentry.cli import main

main()

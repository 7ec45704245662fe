"""`python -m kgserver` runs the kgserver command."""

from kgserver.cli import main

main()

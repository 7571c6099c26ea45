"""``python -m mltracker``: the command-line interface."""

from mltracker.cli import main

if __name__ == "__main__":
    main()

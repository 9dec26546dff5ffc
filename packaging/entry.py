"""Entry point of the frozen app (PyInstaller): the same `albert-studio` command, window with no arguments.

freeze_support() must come first: fine-tuning runs in a `spawn` worker process, which in a bundle is
this same executable started again with multiprocessing's arguments; freeze_support() turns that
start into the worker and exits, instead of opening a second window or parsing CLI arguments.
"""
import multiprocessing
import os
import sys


def main() -> int:
    multiprocessing.freeze_support()
    if os.environ.get("ALBERT_STUDIO_SMOKE_MP"):  # only packaging/smoke_test.py sets these two
        import smoke_probe

        return smoke_probe.check_multiprocessing()
    if os.environ.get("ALBERT_STUDIO_SMOKE_WINDOW"):
        import smoke_probe

        smoke_probe.install()
    from app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

"""``python -m gilwise.cli``: the ``gilwise`` command."""

from gilwise.cli.main import main

if __name__ == "__main__":  # not when a spawned worker imports it as __mp_main__
    raise SystemExit(main())

"""``python -m syncengine``: the same as the ``syncengine`` command.

.. versionadded:: 0.1
"""

from __future__ import annotations

from syncengine.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main(prog_name="syncengine")

"""``python -m lxdex_capacity``: the ``lxdex`` command."""

from .entry import main

main()

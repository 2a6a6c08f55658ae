"""``python -m lxdex_capacity.cli``: the ``lxdex`` command (as ``python -m lxdex_capacity``)."""

from ..entry import main

main()

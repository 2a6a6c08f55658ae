"""``python -m lxdex_capacity.cli``: the ``lxdex`` command."""

from . import main

main()

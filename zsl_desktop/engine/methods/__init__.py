"""The built-in ZSL methods. Importing a module registers its method (``base.register``).

Add one line per method; ``base.get_method`` imports this package on first use.
"""
from . import msdn  # noqa: F401
from . import gsmflow  # noqa: F401
from . import sgma  # noqa: F401
from . import ipce  # noqa: F401

"""The built-in ZSL methods and the registry that names them.

Each method is a package here (``msdn/``, ``sgma/``, ``gsmflow/``, ``ce_gzsl/``), its networks
apart from the method. Importing it registers its classes
(``base.register``); this package imports the built-ins, so ``get_method`` sees them all.
Add one line per method.
"""

from zsl_desktop.engine.methods import ce_gzsl, gsmflow, msdn, sgma
from zsl_desktop.engine.methods.base import Method, registered

BUILT_IN = (msdn, gsmflow, sgma, ce_gzsl)  # imported for their registration


def method_names() -> list[str]:
    return sorted(registered())


def get_method(name: str) -> type[Method]:
    methods = registered()
    try:
        return methods[name.lower()]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(methods))}") from None


def default_epochs(method_name: str) -> int:
    """How many epochs a method trains for unless told otherwise."""
    return int(get_method(method_name).default_hparams.get("epochs", 30))

"""The built-in ZSL methods and the registry that names them.

Importing a method's module registers it (``base.register``); this package
imports the built-ins, so ``get_method`` sees them all. Add one line per method.
"""
from zsl_desktop.engine.methods import gsmflow, ipce, msdn, sgma
from zsl_desktop.engine.methods.base import Method, registered

BUILT_IN = (msdn, gsmflow, sgma, ipce)  # imported for their registration


def method_names() -> list[str]:
    return sorted(registered())


def get_method(name: str) -> type[Method]:
    methods = registered()
    try:
        return methods[name.lower()]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(methods))}") from None

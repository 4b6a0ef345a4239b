"""The zoo's architectures; importing this package registers them in timm's registry.

Every public module in this folder is imported (one file per architecture family), so a new
family needs no line here.
"""

import importlib
import pkgutil

__all__ = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))

for _name in __all__:
    importlib.import_module(f"{__name__}.{_name}")

"""Package discovery: every folder with an ``__init__.py`` under the three roots is shipped.

The roots live under names that differ from their folders (``server/`` is ``layercfg.server``),
which pyproject's static ``packages.find`` cannot express, so the list is computed here and a
new subpackage can never be left out of the wheel. Everything else is in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import setup

ROOTS = {
    "layercfg": "layercfg",
    "layercfg.server": "server",
    "layercfg.schema_builder": "schema_builder",
}


def _packages() -> list[str]:
    here = Path(__file__).parent
    found = []
    for name, folder in ROOTS.items():
        for init in (here / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(here / folder).parts
            found.append(".".join((name, *parts)))
    return sorted(found)


setup(packages=_packages(), package_dir=ROOTS)

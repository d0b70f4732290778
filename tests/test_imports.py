"""Every module of Piazza imports on its own, first, as a script or a worker process may import it.

A package whose `__init__` pulled in its routes made a cycle: importing `piazza.events.models` first
imported the events API, then OAuth's bearer check, then accounts, which came back to the half-imported
bearer module and failed. Modules are imported one at a time in a fresh interpreter, with every piazza
module forgotten before each, so the order of the other tests cannot hide such a cycle.
"""

import subprocess
import sys

IMPORT_EACH_MODULE_FIRST = """
import importlib, pkgutil, sys
import piazza

names = sorted(
    m.name
    for m in pkgutil.walk_packages(piazza.__path__, "piazza.")
    if not m.name.endswith(".__main__") and ".migrations" not in m.name
)
for name in names:
    for loaded in [m for m in sys.modules if m == "piazza" or m.startswith("piazza.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        print(f"{name}: {exc!r}")
print(f"{len(names)} modules")
"""


def test_each_module_imports_first_in_a_fresh_interpreter():
    done = subprocess.run(  # noqa: S603  (our own interpreter, our own code)
        [sys.executable, "-c", IMPORT_EACH_MODULE_FIRST],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    *failures, count = done.stdout.strip().splitlines()
    assert int(count.split()[0]) > 90  # every module was found
    assert failures == []

"""Cold start of one-shot CLI processes: import LanceDB without its REST namespace client.

Why: ``import lancedb`` (0.40) imports ``lance_namespace``, whose generated REST client package
``lance_namespace_urllib3_client`` wraps every API method with pydantic's ``validate_call`` in its
``__init__``; that alone was about half the CPU of a cold ``cast-pipeline search`` (measured: 2.1 s ->
1.1 s CPU for ``import lancedb`` on the loaded 2-core dev machine). We only open local directories,
which never use that client. Registering the package without running its ``__init__`` still lets
``lance_namespace`` import the request models it needs from ``.models``; only the API classes are
skipped. Used only by short-lived CLI commands (never by Dagster or the long-running service), and a
no-op once LanceDB or the client is imported.
"""

from __future__ import annotations

import importlib.util
import sys
import types

_CLIENT = "lance_namespace_urllib3_client"


def skip_lance_rest_client() -> bool:
    """Register the REST client package without its ``__init__``; True when it did."""
    if "lancedb" in sys.modules or _CLIENT in sys.modules:
        return False
    spec = importlib.util.find_spec(_CLIENT)
    if spec is None or not spec.submodule_search_locations:
        return False
    package = types.ModuleType(_CLIENT)
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    sys.modules[_CLIENT] = package
    return True

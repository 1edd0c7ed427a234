"""The JSON conventions of every pps record (index, manifest, site state, install marker).

Written canonically (sorted keys, two-space indent, final newline), so the same record always
gives the same bytes; read with one clear error naming the source when the text is not JSON or
not an object.
"""

from __future__ import annotations

import json

from pps.errors import BadInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def dumps(data: Any) -> bytes:
    """Canonical bytes of *data*."""
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def loads_object(raw: bytes | str, source: str) -> dict[str, Any]:
    """Parse *raw* as a JSON object; BadInput naming *source* otherwise."""
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise BadInput(f"{source} is not valid JSON: {e}") from None
    except RecursionError:
        raise BadInput(f"{source} is nested too deeply to be a pps record") from None
    if not isinstance(data, dict):
        raise BadInput(f"{source} is not a JSON object")
    return data

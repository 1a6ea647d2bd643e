"""Cyclic garbage collection paused while many small objects are made.

Readers build a list (csv cells) or dict (JSON) per record, and none of them form cycles:
reference counting frees them. The cyclic collector still walks every one of them as
they pile up, which cost more than reading the spend files themselves, and about a tenth
of an OCDS ingest. Pausing it loses nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block (restored after, as it was)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

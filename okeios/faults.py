"""Fault injection for the crash tests: die, or fail as a full disk would, at a named step.

``OKEIOS_FAULT=STEP[:ACTION][,STEP[:ACTION]...]`` makes :func:`fault_point` ``STEP`` act:
``kill`` (the default) sends the process SIGKILL, as a power cut or ``kill -9`` would at that
point; ``enospc`` raises the ``OSError`` a full disk raises. The steps are the points between
the committed parts of the multi-step verbs (``add-chunk``, ``grant-share``, ``erase-purge``,
``tiles-file``, ``witness-save``, ...), where timing alone cannot reliably kill a process.
Unset (always, outside the tests), a fault point costs one dictionary lookup.
"""

from __future__ import annotations

import errno
import os
import signal

__all__ = ["FAULT_ENV", "fault_point"]

FAULT_ENV = "OKEIOS_FAULT"


def fault_point(step: str) -> None:
    """Act on ``$OKEIOS_FAULT`` if it names ``step`` (see the module docstring)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.strip().partition(":")
        if name != step:
            continue
        if action in ("", "kill"):
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        else:
            raise ValueError(f"unknown fault action {action!r} for {step}")

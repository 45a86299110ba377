"""Fault injection for the crash tests: die, or fail as a full disk would, at a named step.

``OKEIOS_FAULT=STEP[@N][:ACTION][,...]`` makes :func:`fault_point` ``STEP`` act the ``N``-th
time the process reaches it (every time without ``@N``): ``kill`` (the default) sends the process
SIGKILL, as a power cut or ``kill -9`` would at that point; ``enospc`` raises the ``OSError``
a full disk raises. The steps are the points between the committed parts of the multi-step
verbs, where timing alone cannot reliably kill a process:

* ``commit`` / ``committed``: just before and just after every store transaction's COMMIT;
* ``grant-share``: a GRANT committed, its share file not written yet;
* ``erase-purge``: an erasure committed, its purge not done yet;
* ``tiles-file``: before each file ``okeios log --tiles`` writes;
* ``witness-save``: a witness cosigned, its state not saved yet.

Unset (always, outside the tests), a fault point costs one dictionary lookup.
"""

from __future__ import annotations

import errno
import os
import signal

__all__ = ["FAULT_ENV", "fault_point"]

FAULT_ENV = "OKEIOS_FAULT"


_REACHED: dict[str, int] = {}


def fault_point(step: str) -> None:
    """Act on ``$OKEIOS_FAULT`` if it names ``step`` (see the module docstring)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    _REACHED[step] = reached = _REACHED.get(step, 0) + 1
    for item in spec.split(","):
        where, _, action = item.strip().partition(":")
        name, _, nth = where.partition("@")
        if name != step or (nth and reached != int(nth)):
            continue
        if action in ("", "kill"):
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        else:
            raise ValueError(f"unknown fault action {action!r} for {step}")

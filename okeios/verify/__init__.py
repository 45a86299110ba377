"""The read side: what an auditor, a recipient or any third party runs.

:mod:`.report` (verdicts and the one :class:`~okeios.verify.report.Reason` vocabulary),
:mod:`.policy` (whom to trust), :mod:`.bundle` (one bundle), :mod:`.chainplan` (the chain
lookups of a bundle's check, shared with bulk), :mod:`.lineage` (one record's history),
:mod:`.audit` (a whole published log), :mod:`.bulk` (many bundles on an executor),
:mod:`.share` (opening a share as its recipient).

Depends on :mod:`okeios.protocol` and :mod:`okeios.crypto` only; chain facts arrive through a
:class:`~okeios.protocol.anchors.ChainView` the caller passes in, so importing this package (and
verifying offline) loads no web3. Never imports :mod:`okeios.publish`.
"""

from okeios.protocol.anchors import ChainView
from okeios.verify.bundle import verify_bundle, verify_bundle_or_raise
from okeios.verify.policy import ANYONE, TrustPolicy
from okeios.verify.report import Property, Reason, Report, Status, Verdict

__all__ = [
    "ANYONE",
    "ChainView",
    "Property",
    "Reason",
    "Report",
    "Status",
    "TrustPolicy",
    "Verdict",
    "verify_bundle",
    "verify_bundle_or_raise",
]

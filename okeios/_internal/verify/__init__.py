"""The read side: what an auditor, a recipient or any third party runs.

:mod:`.report` (verdicts and the one :class:`~okeios._internal.verify.report.Reason` vocabulary),
:mod:`.policy` (whom to trust), :mod:`.bundle` (one bundle), :mod:`.chainplan` (the chain
lookups of a bundle's check, shared with bulk), :mod:`.lineage` (one record's history),
:mod:`.audit` (a whole published log), :mod:`.bulk` (many bundles on an executor),
:mod:`.share` (opening a share as its recipient).

Depends on :mod:`okeios._internal.protocol` and :mod:`okeios._internal.crypto` only; chain facts
arrive through a
:class:`~okeios._internal.protocol.anchors.ChainView` the caller passes in, so importing this
package (and verifying offline) loads no web3. Never imports :mod:`okeios._internal.publish`.
"""

from okeios._internal.protocol.anchors import ChainView
from okeios._internal.verify.bundle import verify_bundle, verify_bundle_or_raise
from okeios._internal.verify.policy import ANYONE, TrustPolicy
from okeios._internal.verify.report import Property, Reason, Report, Status, Verdict

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

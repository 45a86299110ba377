"""Issue 19, item 5, "two values for one field": a signer commits two digests for one path in
one CREATE, and hands each recipient a bundle disclosing one of them. Each bundle passes alone
(a single partial disclosure cannot show a hidden second value: docs/commitments.md); wherever
two of them meet they are reported, in a batch too, not only by ``verify --lineage``.

The regression tests here failed on the code before issue 19: ``verify_many`` and ``okeios
verify`` with both bundles passed both.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from okeios._internal.cli.main import main
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.verify.bulk import verify_many
from okeios._internal.verify.report import Property, Reason, Status
from okeios.errors import NonCanonicalEncodingError
from tests.helpers import make_publisher, policy_for
from tests.verify.test_one_history import _field, _signed_commitment_bundles

FINAL = _field(("status",), b'"final"')
CANCELLED = _field(("status",), b'"cancelled"', salt=b"\x07" * 16)
CODE = _field(("code",), b'"x"')


def _two_values() -> tuple[Bundle, Bundle, Bundle]:
    one, other, plain = _signed_commitment_bundles([FINAL, CANCELLED, CODE], [[2, 0], [2, 1], [2]])
    return one, other, plain


def test_each_bundle_passes_alone_which_is_the_limit_of_one_partial_disclosure() -> None:
    policy = policy_for(make_publisher())
    for bundle in _two_values():
        [report] = verify_many([bundle.to_bytes()], policy)
        assert report.passed, report.headline()


@pytest.mark.parametrize("executor", [None, "threads"])
def test_two_values_for_one_field_are_equivocation_in_a_batch(executor: str | None) -> None:
    policy = policy_for(make_publisher())
    one, other, plain = _two_values()
    data = [one.to_bytes(), plain.to_bytes(), other.to_bytes()]
    if executor is None:
        reports = verify_many(data, policy)
    else:  # one bundle a chunk: the two meet only when the chunks are joined
        with ThreadPoolExecutor(2) as pool:
            reports = verify_many(data, policy, executor=pool, chunk_size=1)
    verdicts = [r.verdict(Property.INTEGRITY) for r in reports]
    assert [v.reason for v in verdicts] == [Reason.EQUIVOCATION] * 3
    assert all(v.status is Status.FAIL for v in verdicts)
    assert "'/status' is disclosed with two values" in verdicts[0].detail
    # Bundles that agree (the same field twice, or disjoint fields) are no equivocation.
    agree = verify_many([one.to_bytes(), one.to_bytes(), plain.to_bytes()], policy)
    assert all(r.passed for r in agree)


def test_an_index_and_a_member_with_one_pointer_are_two_documents() -> None:
    """``/a/0`` as an array index in one bundle and as a member ``"0"`` in another: the same
    JSON Pointer and value, two documents. The batch compares typed paths, not pointers."""
    as_index = _field(("a", 0), b'"x"')
    as_member = _field(("a", "0"), b'"x"', salt=b"\x05" * 16)
    first, second = _signed_commitment_bundles([as_index, as_member], [[0], [1]])
    reports = verify_many([first.to_bytes(), second.to_bytes()], policy_for(make_publisher()))
    assert [r.verdict(Property.INTEGRITY).reason for r in reports] == [Reason.EQUIVOCATION] * 2


def test_okeios_verify_with_both_bundles_reports_equivocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher = make_publisher()
    one, other, _ = _two_values()
    files = []
    for name, bundle in (("one.okb", one), ("other.okb", other)):
        (tmp_path / name).write_bytes(bundle.to_bytes())
        files.append(str(tmp_path / name))
    trust = ["--author", publisher.address, "--publisher", publisher.address]
    assert main(["verify", files[0], *trust]) == 0
    capsys.readouterr()
    assert main(["verify", *files, *trust, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    for entry in out["bundles"].values():
        assert entry["verdicts"]["integrity"]["reason"] == "equivocation"


def test_a_complete_disclosure_with_two_values_for_one_path_is_no_bundle() -> None:
    """docs/commitments.md: such a disclosure is refused twice over. As an in-memory bundle its
    fields are no document (``field-conflict``); encoded, it is not even a bundle, because
    disclosed fields are in strictly ascending order of their path (decoding raises
    ``NonCanonicalEncodingError``, and ``okeios verify`` says undecided, exit 2)."""
    (both,) = _signed_commitment_bundles([FINAL, CANCELLED, CODE], [[2, 0, 1]])
    with pytest.raises(NonCanonicalEncodingError):
        Bundle.load(both.to_bytes())

"""The private implementation of okeios: nothing here is part of the public API.

The public API is :mod:`okeios` (verification, :class:`~okeios.Publisher`, the record and event
types), :mod:`okeios.service` (:class:`~okeios.service.Okeios`, every store verb) and
:mod:`okeios.errors`; ``docs/api.md`` lists it. The modules below may be renamed, split or
removed in any release. They are layered (``protocol`` < ``crypto`` < ``chain`` < ``publish`` /
``verify`` < ``report`` < ``cli``; ``tests/architecture/test_layers.py`` checks it), so a
third party's verifier loads only ``protocol`` and ``verify``.
"""

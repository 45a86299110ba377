"""The ``okeios`` command line.

:mod:`.main` builds the parser and handles errors and exit codes; :mod:`.options` holds what
every verb shares (option blocks, the chain and trust resolver, input and output helpers); the
verbs live in :mod:`.store_verbs` (the record owner's), :mod:`.chain_verbs` (anchor, trust) and
:mod:`.verify_verbs` (verify, decrypt, audit); :mod:`.demo` is the end-to-end demonstration.

The top layer: it may import every other layer, and nothing imports it.
"""

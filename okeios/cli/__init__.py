"""The ``okeios`` command line: verbs (:mod:`.main`) and the demo (:mod:`.demo`).

The top layer: it may import every other layer, and nothing imports it.
"""

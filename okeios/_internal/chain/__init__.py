"""Chains: the only layer that imports web3, eth-account or eth-tester.

* :mod:`.registry`: the AnchorRegistry contract client (send anchors, read them back) and
  :class:`~okeios._internal.chain.registry.RegistryView`, the
  :class:`~okeios._internal.protocol.anchors.ChainView` that verification reads chain facts through;
* :mod:`.embedded`: the zero-setup in-process EVM kept in the okeios home;
* :mod:`.connect`: opening a chain by name (``embedded`` or a JSON-RPC URL);
* :mod:`.artifacts`: the compiled contract shipped with the package.

Verification never imports this package: it is handed a ``ChainView`` by its caller, so offline
verification stays light.
"""

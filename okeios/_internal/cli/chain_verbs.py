"""The chain verbs: ``anchor`` (the publisher's) and ``trust`` (the verifier's pins)."""

from __future__ import annotations

import argparse
from typing import Any

from okeios._internal.cli import identity
from okeios._internal.cli import options as o
from okeios._internal.config import TrustConfig
from okeios._internal.protocol.hexcodec import to_hex

__all__ = ["register"]


def _cmd_anchor(args: argparse.Namespace) -> int:
    from okeios.service import anchor_home

    # The chain id and registry come from the flags; else anchor_home finds the pin of the
    # chain id the node answers (a private registry only if pinned as one), else the chain's
    # canonical registry.
    chain_id, address = args.chain_id, args.registry
    with o.open_store(args) as store:
        result = anchor_home(
            store,
            args.chain,
            registry=address,
            chain_id=chain_id,
            confirmations=args.confirmations,
            timeout=args.timeout,
            rpc_timeout=min(args.chain_timeout, 10.0),
            echo=(lambda _s: None) if args.json or args.quiet else o.note,
        )
    entry = result.entry
    payload = {
        "chain": args.chain,
        "chainId": result.chain_id,
        "registry": result.registry,
        "treeSize": result.tree_size,
        "state": entry.state if entry else None,
        "final": result.final,
        "transaction": to_hex(entry.tx_hash) if entry and entry.tx_hash else None,
        "block": entry.block_number if entry else None,
        "confirmations": result.confirmations,
        "confirmationsWanted": args.confirmations,
    }
    pending = entry is not None and not result.final
    if args.json:
        o.print_json(payload)
    else:
        print(
            f"anchored size {result.tree_size}: {payload['state']} "
            f"(block {payload['block']}, transaction {payload['transaction']})"
        )
        if pending:
            o.note(
                f"not final yet: {result.confirmations} of {args.confirmations} confirmations "
                f"after {args.timeout:g} s (the chain has mined no further block). The anchor "
                "is journaled: run `okeios anchor` again once more blocks are mined to finish"
            )
    return o.EXIT_UNDECIDED if pending else o.EXIT_OK


def _export_descriptor(args: argparse.Namespace, trust: TrustConfig) -> None:
    """``trust --export-descriptor FILE``: this store's descriptor, for its anchored chain."""
    from okeios._internal.descriptor import TrustDescriptor, parse_descriptor
    from okeios._internal.publish.tiles import note_signer

    with o.open_store(args) as store:
        pins = [trust.chain_by_id(int(k)) for k in trust.chains]
        if args.chain:
            pin = trust.chain(args.chain)
            if pin is None:
                raise o.UsageError(f"--chain {args.chain}: not pinned here; anchor there first")
        elif len(pins) == 1:
            pin = pins[0]
        else:
            raise o.UsageError("this home pins several chains (or none): name one with --chain")
        assert pin is not None
        chain_id, registry = pin
        descriptor = TrustDescriptor(
            organisation=store.keys.organisation,
            publisher=store.address,
            chain_id=chain_id,
            registry=registry,
            private_registry=trust.is_private(chain_id),
            log_id=store.log_id,
            note_key=note_signer(store.signer, store.log_id).vkey(),
            witnesses=tuple(args.witness_key),
        )
        parse_descriptor(descriptor.to_bytes())  # what a verifier will read: checked here
        o.write_output(args.export_descriptor, descriptor.to_bytes())


def _import_descriptor(source: str, trust: TrustConfig) -> str:
    """``trust --import FILE|URL``: pin what a publisher's descriptor names."""
    from okeios._internal.descriptor import MAX_DESCRIPTOR, fetch_descriptor, parse_descriptor

    if source.startswith(("http://", "https://")):
        data = fetch_descriptor(source)
    else:
        data = o.read_input(source, limit=MAX_DESCRIPTOR, what="trust descriptor")
    d = parse_descriptor(data)
    trust.trust_publisher(d.publisher)
    if d.organisation is not None:
        trust.trust_organisation(d.organisation, None)
    entry = trust.chains.setdefault(str(d.chain_id), {"chainId": d.chain_id, "urls": []})
    if d.private_registry:
        entry["registry"], entry["private"] = d.registry, True
    trust.logs[to_hex(d.log_id)] = d.to_json()
    return f"pinned log {to_hex(d.log_id)} of {d.publisher} on chain {d.chain_id}"


def _cmd_trust(args: argparse.Namespace) -> int:
    where = o.home(args)
    trust = TrustConfig.load(where)
    if args.export_descriptor:
        _export_descriptor(args, trust)
        o.note(f"trust descriptor written to {args.export_descriptor}")
        return o.EXIT_OK
    if args.import_descriptor:
        o.note(_import_descriptor(args.import_descriptor, trust))
    for a in args.author:
        trust.trust_author(a)
    for p in args.publisher:
        trust.trust_publisher(p)
    identity.apply_trust_options(args, trust)
    for item in args.label:
        address, sep, name = item.partition("=")
        if not sep or not name.strip():
            raise o.UsageError(f"--label takes ADDRESS=NAME, got {item!r}")
        from okeios._internal.protocol.signing import checksum_address

        trust.labels[checksum_address(address.strip())] = name.strip()
    if args.chain:
        if not args.chain_id:
            raise o.UsageError("--chain needs --chain-id (and --registry for a private registry)")
        trust.pin_chain(args.chain, args.chain_id, args.registry)
    elif args.chain_id or args.registry:
        raise o.UsageError("--chain-id and --registry go with --chain")
    trust.save(where)
    o.print_json(
        {
            "authors": trust.authors,
            "publishers": trust.publishers,
            "organisations": trust.organisations,
            "chains": trust.chains,
            "logs": trust.logs,
            "labels": trust.labels,
        }
    )
    return o.EXIT_OK


def register(sub: Any) -> None:
    p = o.command(sub, "anchor", "anchor the log's current checkpoint on a chain", _cmd_anchor)
    o.chain_options(p, default="embedded")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to wait for the anchor to become final (default: okeios.toml's "
        "chain.anchor-timeout, else 60); if it is not, exit 2 and say how to finish",
    )

    p = o.command(
        sub, "trust", "pin trusted authors, publishers and chains in trust.json", _cmd_trust
    )
    o.authors_option(p, "pin this author key as trusted (repeatable)")
    o.publishers_option(p, "pin this publisher key as trusted (repeatable)")
    identity.add_trust_options(p)
    p.add_argument(
        "--chain",
        metavar="URL|embedded",
        help="pin this chain (an http(s) JSON-RPC URL or 'embedded'), with --chain-id and "
        "--registry",
    )
    p.add_argument("--chain-id", type=int, metavar="N", help="with --chain: its chain id")
    p.add_argument(
        "--registry",
        metavar="ADDRESS",
        help="with --chain: a private AnchorRegistry (an explicit opt-in; default: the chain's "
        "canonical registry)",
    )
    p.add_argument(
        "--import",
        dest="import_descriptor",
        metavar="FILE|URL",
        help="pin what a publisher's trust descriptor names (docs/trust-descriptor.md); a URL "
        "is fetched with a 10 s deadline and a 64 KiB cap",
    )
    p.add_argument(
        "--export-descriptor",
        metavar="FILE",
        help="write this store's trust descriptor (its chain: --chain, or the one pinned)",
    )
    p.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="with --export-descriptor: a witness the log asks to cosign (repeatable)",
    )
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="ADDRESS=NAME",
        help="name an address in the address book reports show (repeatable)",
    )

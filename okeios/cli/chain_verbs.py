"""The chain verbs: ``anchor`` (the publisher's) and ``trust`` (the verifier's pins)."""

from __future__ import annotations

import argparse
from typing import Any

from okeios.cli import identity
from okeios.cli import options as o
from okeios.config import TrustConfig
from okeios.protocol.hexcodec import to_hex

__all__ = ["register"]


def _cmd_anchor(args: argparse.Namespace) -> int:
    from okeios.service import anchor_home

    chain_id, address = o.partial_pin(args, o.home(args))
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


def _cmd_trust(args: argparse.Namespace) -> int:
    where = o.home(args)
    trust = TrustConfig.load(where)
    for a in args.author:
        trust.trust_author(a)
    for p in args.publisher:
        trust.trust_publisher(p)
    identity.apply_trust_options(args, trust)
    for item in args.label:
        address, sep, name = item.partition("=")
        if not sep or not name.strip():
            raise o.UsageError(f"--label takes ADDRESS=NAME, got {item!r}")
        from okeios.protocol.signing import checksum_address

        trust.labels[checksum_address(address.strip())] = name.strip()
    if args.chain:
        if not (args.chain_id and args.registry):
            raise o.UsageError("--chain needs --chain-id and --registry")
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
        "--registry", metavar="ADDRESS", help="with --chain: its AnchorRegistry contract"
    )
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="ADDRESS=NAME",
        help="name an address in the address book reports show (repeatable)",
    )

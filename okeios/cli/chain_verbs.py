"""The chain verbs: ``anchor`` (the publisher's) and ``trust`` (the verifier's pins)."""

from __future__ import annotations

import argparse
from typing import Any

from okeios.cli import options as o
from okeios.config import TrustConfig
from okeios.errors import ChainError
from okeios.protocol.hexcodec import to_hex

__all__ = ["register"]

FUND_EMBEDDED = 10**20  # 100 ether for the publisher on the embedded chain


def _cmd_anchor(args: argparse.Namespace) -> int:
    from okeios.chain.registry import Registry
    from okeios.publish.anchoring import anchor

    where = o.home(args)
    trust = TrustConfig.load(where)
    chain_id, address = o.partial_pin(args, where)
    with (
        o.open_store(args) as store,
        o.open_chain_for(
            args.chain, where, create=True, timeout=min(args.chain_timeout, 10.0)
        ) as chain,
    ):
        actual = Registry(chain.w3, "0x" + "00" * 20, label=chain.label).chain_id
        if chain_id is not None and actual != chain_id:
            raise o.ChainMismatchError(
                f"{args.chain} answers chain id {actual}, but {chain_id} is pinned for it"
            )
        balance = chain.w3.eth.get_balance(store.address)
        if chain.embedded is not None and balance < FUND_EMBEDDED // 10:
            chain.fund(store.address, FUND_EMBEDDED)
        elif balance == 0:
            raise ChainError(
                f"the publisher {store.address} has no funds on chain {actual} ({chain.label}): "
                "send it some ether to pay for anchoring, then run anchor again"
            )
        if address is None:
            registry = Registry.deploy(chain.w3, store.signer, label=chain.label)
            o.note(f"deployed AnchorRegistry at {registry.address} on {chain.label}")
        else:
            registry = Registry(chain.w3, address, label=chain.label)
            if not registry.has_code():
                raise ChainError(f"no contract at {registry.address} on {chain.label}")
        trust.pin_chain(args.chain, registry.chain_id, registry.address)
        trust.save(where)
        chain.save()
        try:
            result = anchor(
                store,
                registry,
                confirmations=args.confirmations,
                timeout=args.timeout,
                echo=(lambda _s: None) if args.json or args.quiet else o.note,
            )
        finally:
            chain.save()
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
    if args.chain:
        if not (args.chain_id and args.registry):
            raise o.UsageError("--chain needs --chain-id and --registry")
        trust.pin_chain(args.chain, args.chain_id, args.registry)
    elif args.chain_id or args.registry:
        raise o.UsageError("--chain-id and --registry go with --chain")
    trust.save(where)
    o.print_json({"authors": trust.authors, "publishers": trust.publishers, "chains": trust.chains})
    return o.EXIT_OK


def register(sub: Any) -> None:
    p = o.command(sub, "anchor", "anchor the log's current checkpoint on a chain", _cmd_anchor)
    o.chain_options(p, default="embedded")
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for the anchor to become final (default 60); if it is not, "
        "exit 2 and say how to finish",
    )

    p = o.command(
        sub, "trust", "pin trusted authors, publishers and chains in trust.json", _cmd_trust
    )
    p.add_argument("--author", action="append", default=[], metavar="ADDRESS")
    p.add_argument("--publisher", action="append", default=[], metavar="ADDRESS")
    p.add_argument("--chain", metavar="URL|embedded")
    p.add_argument("--chain-id", type=int, metavar="N")
    p.add_argument("--registry", metavar="ADDRESS")

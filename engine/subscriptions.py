"""What is subscribed to a RunEngine, for listing and detaching callbacks in a session."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subscription:
    token: int
    documents: str           # "all" or one document name
    callback: object

    def __str__(self) -> str:
        return f"{self.token:>4}  {self.documents:<10} {_describe(self.callback)}"


def subscriptions(RE) -> list[Subscription]:
    """The RunEngine's subscriptions in token order (the tokens ``RE.unsubscribe`` takes)."""
    registry = RE.dispatcher.cb_registry.callbacks
    by_cid = {cid: (str(getattr(sig, "name", sig)), proxy) for sig, proxies in registry.items()
              for cid, proxy in proxies.items()}
    rows = []
    for token, cids in sorted(RE.dispatcher._token_mapping.items()):
        entries = [by_cid[c] for c in cids if c in by_cid]
        if not entries:
            continue
        names = {n for n, _ in entries}
        callback = _target(entries[0][1])
        rows.append(Subscription(token, "all" if len(names) > 1 else names.pop(), callback))
    return rows


def _target(proxy):
    """The object behind bluesky's weak-method proxy (the instance of a bound method)."""
    if proxy.inst is not None:
        return proxy.inst() or proxy.func
    return proxy.func


def _describe(callback) -> str:
    name = getattr(callback, "__qualname__", None) or type(callback).__qualname__
    module = getattr(callback, "__module__", None) or type(callback).__module__
    return f"{module}.{name}"

"""Content negotiation, one way for every route: `format=` first, then Accept with q-values, else 406."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from werkzeug.datastructures import MIMEAccept

from kgserver.errors import InputError, NotAcceptableError


class Offer(Protocol):
    """Something a route can send: a `format=` name and a media type."""

    @property
    def name(self) -> str: ...

    @property
    def media_type(self) -> str: ...


O = TypeVar("O", bound=Offer)


def negotiate(
    offers: Sequence[O],
    accept: MIMEAccept,
    format_name: str | None,
    what: str,
    names: Mapping[str, str] | None = None,
    media_aliases: Mapping[str, str] | None = None,
) -> O:
    """The offer to send: `format=` if given, else the best match for Accept (q-values honoured).

    `format=` may be an offer's name, one of `names` (other names for it) or its media type.
    No Accept header, or */*, gives the first offer; nothing acceptable is a 406 listing the
    offers. `media_aliases` maps other media types clients send (text/plain...) to offer names.
    Every route that negotiates calls this, so they answer alike.
    """
    if format_name:
        key = format_name.strip().lower()
        key = (names or {}).get(key, key)
        chosen = next((offer for offer in offers if key in (offer.name, offer.media_type)), None)
        if chosen is None:
            listed = ", ".join(offer.name for offer in offers)
            raise InputError(f"format={format_name} is not offered for {what}; use one of: {listed}")
        return chosen
    if not accept:
        return offers[0]
    offered_names = {offer.name for offer in offers}
    aliases = {alias: name for alias, name in (media_aliases or {}).items() if name in offered_names}
    best = accept.best_match([offer.media_type for offer in offers] + list(aliases))
    if best is None:
        raise NotAcceptableError(
            f"none of the accepted media types can carry {what}; offered: "
            + ", ".join(offer.media_type for offer in offers)
        )
    if best in aliases:
        return next(offer for offer in offers if offer.name == aliases[best])
    return next(offer for offer in offers if offer.media_type == best)

"""Where a callback may go: the outbound-URL guard (shared/outbound_urls.py) with this
deployment's setting — at ingest (shared/ingest.py: a 400 naming `callback_url`) and again at
delivery, which connects only to the address checked here."""

from __future__ import annotations

from shared.outbound_urls import PinnedUrl, Resolver, check_url
from shared.settings_callbacks import CallbackSettings

FIELD = "callback_url"


def pinned_callback(
    settings: CallbackSettings, url: str, resolve: Resolver | None = None
) -> PinnedUrl:
    """The callback URL resolved and checked (OutboundUrlError when it may not be reached)."""
    return check_url(url, allow_private=settings.callback_allow_private, resolve=resolve)

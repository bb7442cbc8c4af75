"""Where a callback may go: the outbound-URL guard (shared/outbound_urls.py) with this
deployment's setting, at ingest (a 400 naming `callback_url`) and again at delivery."""

from __future__ import annotations

from shared.outbound_urls import OutboundUrlError, PinnedUrl, Resolver, check_url
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem
from shared.settings_callbacks import CallbackSettings

FIELD = "callback_url"


def pinned_callback(
    settings: CallbackSettings, url: str, resolve: Resolver | None = None
) -> PinnedUrl:
    """The callback URL resolved and checked (OutboundUrlError when it may not be reached)."""
    return check_url(url, allow_private=settings.callback_allow_private, resolve=resolve)


def check_callback_address(settings: CallbackSettings, url: str) -> None:
    """Ingest's check: 400 `invalid_field` naming `callback_url` and the problem."""
    try:
        pinned_callback(settings, url)
    except OutboundUrlError as error:
        raise RequestProblemError(
            FieldProblem(code="invalid_field", message=f"{FIELD}: {error}", field=FIELD)
        ) from error

"""Standard Webhooks signing (shared/callbacks/signing.py) and the client's verify helper,
against the spec's own test vector (standard-webhooks/standard-webhooks,
libraries/python/tests/test_webhooks.py, `test_sign_function`; read 2026-11-30)."""

from __future__ import annotations

import time

import pytest

from aiexec.client.webhooks import WebhookVerificationError, verify
from shared.callbacks.signing import BadSecretError, headers, new_secret, signature

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_BODY = b'{"test": 2432232314}'


def test_the_spec_vector() -> None:
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(SPEC_SECRET, SPEC_ID, 1614265330, SPEC_BODY) == expected


def test_a_new_secret_signs_and_verifies() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    now = int(time.time())
    sent = headers(secret, "task_x", now, b'{"status":"succeeded"}')
    assert verify(secret, sent, b'{"status":"succeeded"}') == {"status": "succeeded"}


@pytest.mark.parametrize("secret", ["whsec_notbase64!", "whsec_" + "QUJD", "plain"])
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(BadSecretError):
        signature(secret, "x", 1, b"{}")


def test_verify_refuses_tampering_old_timestamps_and_missing_headers() -> None:
    now = int(time.time())
    sent = headers(SPEC_SECRET, SPEC_ID, now, SPEC_BODY)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(SPEC_SECRET, sent, SPEC_BODY + b" ")
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        old = headers(SPEC_SECRET, SPEC_ID, now - 301, SPEC_BODY)
        verify(SPEC_SECRET, old, SPEC_BODY)
    with pytest.raises(WebhookVerificationError, match="webhook-id"):
        verify(SPEC_SECRET, {k: v for k, v in sent.items() if k != "webhook-id"}, SPEC_BODY)


def test_verify_accepts_one_matching_signature_among_several_and_any_header_case() -> None:
    now = int(time.time())
    sent = headers(SPEC_SECRET, SPEC_ID, now, SPEC_BODY)
    listed = "v1,AAAA v1a,BBBB " + sent["webhook-signature"]
    upper = {"Webhook-Id": SPEC_ID, "Webhook-Timestamp": str(now), "Webhook-Signature": listed}
    assert verify(SPEC_SECRET, upper, SPEC_BODY) == {"test": 2432232314}

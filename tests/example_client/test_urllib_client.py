"""A standard-library client (urllib) against the session's served mock: each test has a
dev_key of its own, so every test here may send to the same number without a 3004."""

from __future__ import annotations

import pytest
from urllib_client import OtpError, UrllibOtpClient

from mockserver.testing import OtpClock, ServedKey

PHONE = "+6591234567"


@pytest.fixture
def client(otp_mock_server: ServedKey) -> UrllibOtpClient:
    return UrllibOtpClient(otp_mock_server.base_url, otp_mock_server.dev_key, otp_mock_server.dev_secret)


def test_the_code_that_was_sent_verifies(client: UrllibOtpClient, otp_mock_server: ServedKey) -> None:
    message_id = client.send_code(PHONE)
    assert client.check_code(message_id, otp_mock_server.latest_code(PHONE)) is True
    assert [c.operation for c in otp_mock_server.calls] == ["send_otp", "verify_otp"]


def test_a_wrong_code_then_too_soon(client: UrllibOtpClient, otp_mock_server: ServedKey) -> None:
    message_id = client.send_code(PHONE)  # the same number as above: no 3004, another key
    assert client.check_code(message_id, "abcdef") is False
    with pytest.raises(OtpError) as refused:
        client.send_code(PHONE)
    assert refused.value.code == 3004
    assert len(otp_mock_server.messages()) == 1


def test_an_expired_code(client: UrllibOtpClient, otp_mock_server: ServedKey, otp_clock: OtpClock) -> None:
    message_id = client.send_code(PHONE)
    otp_clock.advance(minutes=6)  # this key's clock only
    with pytest.raises(OtpError) as refused:
        client.check_code(message_id, otp_mock_server.latest_code(PHONE))
    assert refused.value.code == 3003


@pytest.mark.otp_mock(scenario="outage")
def test_an_outage_for_this_key_only(client: UrllibOtpClient, otp_mock_server: ServedKey) -> None:
    with pytest.raises(OtpError) as refused:
        client.send_code(PHONE)
    assert refused.value.code == 1000


def test_fail_next_reaches_a_client_without_interception(client: UrllibOtpClient, otp_mock_server: ServedKey) -> None:
    otp_mock_server.fail_next(5013)  # blacklisted
    with pytest.raises(OtpError) as refused:
        client.send_code(PHONE)
    assert refused.value.code == 5013
    assert client.send_code(PHONE)

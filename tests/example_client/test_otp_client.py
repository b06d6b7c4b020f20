"""Tests of our requests client against the OTP mock, as a user writes them.

No server and no network (`otp_no_network`): the mock answers in-process. The same file passes
unchanged with `pytest --otp-mock-target=server`, where the mock answers over real HTTP.
"""

from __future__ import annotations

import pytest
from otp_client import OtpClient, OtpError, OtpUnavailable

from mockserver.testing import OtpClock, OtpMocker

pytestmark = pytest.mark.usefixtures("otp_no_network")
PHONE = "+6591234567"


@pytest.fixture
def client() -> OtpClient:
    return OtpClient("our-app", "our-secret", timeout=1.0)


def test_the_code_that_was_sent_verifies(client: OtpClient, otp_mock: OtpMocker) -> None:
    message_id = client.send_code(PHONE)
    assert client.check_code(message_id, otp_mock.latest_code(PHONE)) is True
    assert [c.operation for c in otp_mock.calls] == ["send_otp", "verify_otp"]
    assert otp_mock.calls[0].request_json() == {"to": PHONE, "template": {"id": "test-template-1"}}
    assert otp_mock.calls[-1].dev_key == "our-app"


def test_a_wrong_code_is_refused(client: OtpClient, otp_mock: OtpMocker) -> None:
    message_id = client.send_code(PHONE)
    wrong = "000000" if otp_mock.latest_code(PHONE) != "000000" else "111111"
    assert client.check_code(message_id, wrong) is False
    assert otp_mock.latest(PHONE).attempts == 1


def test_an_expired_code_is_refused(client: OtpClient, otp_mock: OtpMocker, otp_clock: OtpClock) -> None:
    message_id = client.send_code(PHONE)
    otp_clock.advance(minutes=6)  # test-template-1's codes live 5 minutes
    with pytest.raises(OtpError) as refused:
        client.check_code(message_id, otp_mock.latest_code(PHONE))
    assert refused.value.code == 3003
    assert otp_mock.latest(PHONE).status == "verified_timeout"


def test_sending_again_too_soon_is_refused(client: OtpClient, otp_mock: OtpMocker) -> None:
    client.send_code(PHONE)
    with pytest.raises(OtpError) as refused:
        client.send_code(PHONE)
    assert refused.value.code == 3004
    assert [c.status for c in otp_mock.calls] == [200, 400]


@pytest.mark.otp_mock(scenario="outage")
def test_an_outage_is_reported_as_unavailable(client: OtpClient, otp_mock: OtpMocker) -> None:
    with pytest.raises(OtpUnavailable, match="1000"):
        client.send_code(PHONE)
    assert otp_mock.calls[-1].status == 500 and otp_mock.messages() == []


def test_one_failure_then_service_again(client: OtpClient, otp_mock: OtpMocker) -> None:
    otp_mock.fail_next(1000)
    with pytest.raises(OtpUnavailable):
        client.send_code(PHONE)
    assert client.send_code(PHONE)  # the next one works


def test_a_connection_reset_is_reported_as_unavailable(client: OtpClient, otp_mock: OtpMocker) -> None:
    otp_mock.fail_next("connection_reset")
    with pytest.raises(OtpUnavailable, match="reset"):
        client.send_code(PHONE)
    assert otp_mock.calls[-1].fault == "connection_reset" and otp_mock.calls[-1].status is None


@pytest.mark.parametrize("fault", ["empty_reply", "incomplete_body", "hang", "truncated_json", "malformed_json"])
def test_every_other_fault_is_reported_as_unavailable(client: OtpClient, otp_mock: OtpMocker, fault: str) -> None:
    otp_mock.fail_next(fault)
    with pytest.raises(OtpUnavailable):
        client.send_code(PHONE)
    assert otp_mock.calls[-1].fault == fault


@pytest.mark.otp_mock(scenario="slow-network", seed=3)
def test_delays_are_recorded_not_slept(client: OtpClient, otp_mock: OtpMocker) -> None:
    message_id = client.send_code(PHONE)  # a client timeout of 1 s, a delay of 0.3 to 1.5 s
    assert client.check_code(message_id, otp_mock.latest_code(PHONE))
    assert all(0.3 <= c.delay <= 1.5 for c in otp_mock.calls)


@pytest.mark.otp_mock(max_verify_attempts=2)
def test_settings_come_from_the_marker(client: OtpClient, otp_mock: OtpMocker) -> None:
    message_id = client.send_code("+12025550199")  # a magic number: its code is always 123456
    assert client.check_code(message_id, "000000") is False
    assert client.check_code(message_id, "000000") is False
    with pytest.raises(OtpError) as used_up:
        client.check_code(message_id, "123456")
    assert used_up.value.code == 3003

"""The httpx clients, sync (its own `httpx.Client()`) and async (a transport passed in), as a
user tests them: no server, no network; unchanged with `--otp-mock-target=server`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from otp_client_httpx import AsyncOtpClient, OtpClient, OtpError, OtpUnavailable

from mockserver.testing import OtpClock, OtpMocker

pytestmark = pytest.mark.usefixtures("otp_no_network")
PHONE = "+6591234567"


@pytest.fixture
def client() -> Iterator[OtpClient]:
    client = OtpClient("our-app", "our-secret", timeout=1.0)
    yield client
    client.close()


def test_the_code_that_was_sent_verifies(client: OtpClient, otp_mock: OtpMocker) -> None:
    message_id = client.send_code(PHONE)
    assert client.check_code(message_id, otp_mock.latest_code(PHONE)) is True
    assert [c.operation for c in otp_mock.calls] == ["send_otp", "verify_otp"]


def test_a_wrong_code_is_refused(client: OtpClient, otp_mock: OtpMocker) -> None:
    message_id = client.send_code(PHONE)
    wrong = "000000" if otp_mock.latest_code(PHONE) != "000000" else "111111"
    assert client.check_code(message_id, wrong) is False


def test_an_expired_code_is_refused(client: OtpClient, otp_mock: OtpMocker, otp_clock: OtpClock) -> None:
    message_id = client.send_code(PHONE)
    otp_clock.advance(minutes=6)
    with pytest.raises(OtpError) as refused:
        client.check_code(message_id, otp_mock.latest_code(PHONE))
    assert refused.value.code == 3003


def test_sending_again_too_soon_is_refused(client: OtpClient, otp_mock: OtpMocker) -> None:
    client.send_code(PHONE)
    with pytest.raises(OtpError) as refused:
        client.send_code(PHONE)
    assert refused.value.code == 3004


@pytest.mark.otp_mock(scenario="outage")
def test_an_outage_is_reported_as_unavailable(client: OtpClient, otp_mock: OtpMocker) -> None:
    with pytest.raises(OtpUnavailable, match="1000"):
        client.send_code(PHONE)


@pytest.mark.parametrize("fault", ["connection_reset", "empty_reply", "incomplete_body", "hang", "truncated_json"])
def test_faults_are_reported_as_unavailable(client: OtpClient, otp_mock: OtpMocker, fault: str) -> None:
    otp_mock.fail_next(fault)
    with pytest.raises(OtpUnavailable):
        client.send_code(PHONE)
    assert otp_mock.calls[-1].fault == fault


# async, with the mock's transport ---------------------------------------------------------
def run(otp_mock: OtpMocker, story: object) -> None:
    async def main() -> None:
        client = AsyncOtpClient("our-app", "our-secret", timeout=1.0, transport=otp_mock.httpx_transport())
        try:
            await story(client)  # type: ignore[operator]
        finally:
            await client.aclose()

    asyncio.run(main())


def test_async_the_code_that_was_sent_verifies(otp_mock: OtpMocker) -> None:
    async def story(client: AsyncOtpClient) -> None:
        message_id = await client.send_code(PHONE)
        assert await client.check_code(message_id, otp_mock.latest_code(PHONE)) is True

    run(otp_mock, story)


def test_async_wrong_expired_and_too_soon(otp_mock: OtpMocker) -> None:
    async def story(client: AsyncOtpClient) -> None:
        message_id = await client.send_code(PHONE)
        assert await client.check_code(message_id, "abcdef") is False  # codes are digits
        with pytest.raises(OtpError) as too_soon:
            await client.send_code(PHONE)
        assert too_soon.value.code == 3004
        otp_mock.advance_clock(minutes=6)
        with pytest.raises(OtpError) as expired:
            await client.check_code(message_id, otp_mock.latest_code(PHONE))
        assert expired.value.code == 3003

    run(otp_mock, story)


@pytest.mark.otp_mock(scenario="outage")
def test_async_outage(otp_mock: OtpMocker) -> None:
    async def story(client: AsyncOtpClient) -> None:
        with pytest.raises(OtpUnavailable, match="1000"):
            await client.send_code(PHONE)

    run(otp_mock, story)


def test_async_connection_reset(otp_mock: OtpMocker) -> None:
    async def story(client: AsyncOtpClient) -> None:
        otp_mock.fail_next("connection_reset")
        with pytest.raises(OtpUnavailable, match="ReadError"):
            await client.send_code(PHONE)
        assert await client.send_code(PHONE)

    run(otp_mock, story)

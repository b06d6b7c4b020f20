"""`python -m otp_mock_contracts` is `otp-mock contract`."""

from otp_mock_contracts.cli import contract

if __name__ == "__main__":  # pragma: no cover
    contract(prog_name="otp-mock contract")

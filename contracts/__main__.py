"""`python -m contracts` is `otp-mock contract`."""

from contracts.cli import contract

if __name__ == "__main__":  # pragma: no cover
    contract(prog_name="otp-mock contract")

"""`pytest contracts/` runs the suites with the contract plugin (options: `pytest --help`, "contract")."""

pytest_plugins = ["otp_mock_contracts.plugin"]

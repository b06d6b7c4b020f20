"""`pytest contracts/` runs the suites with the contract plugin (options: `pytest --help`, "contract")."""

pytest_plugins = ["contracts.plugin"]

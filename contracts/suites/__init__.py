"""The contract suites: stateless, stateful (links), OTP behaviour, characterisation (opt-in)."""

"""The OTP rules: codes, messages, templates and the service that applies them. Pure: no Flask."""

"""The OTP rules: codes, messages, templates and the service that applies them. No Flask here."""

from mockserver.otp.clock import Clock, ManualClock, SystemClock
from mockserver.otp.service import OtpPolicy, OtpService

__all__ = ["Clock", "ManualClock", "OtpPolicy", "OtpService", "SystemClock"]

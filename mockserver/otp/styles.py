"""The built-in message styles (template_type 1) in the seven languages of the API.

EngageLab does not publish its default texts; these are plausible stand-ins that carry the same
parts: brand, code, an optional security reminder and an optional validity sentence. The brand
comes first, bracketed as SMS senders write it (`[EngageLab]`; `【EngageLab】` in Chinese and
Japanese), like the custom contents of the starting templates.
"""

from __future__ import annotations

# language: (main sentence, security reminder, validity sentence)
STYLES: dict[str, tuple[str, str, str]] = {
    "default": ("[{{brand_name}}] Your verification code is {{code}}.",
                "Do not share this code with anyone.",
                "It expires in {{ttl}} minutes."),
    "en": ("[{{brand_name}}] Your verification code is {{code}}.",
           "Do not share this code with anyone.",
           "It expires in {{ttl}} minutes."),
    "zh_CN": ("【{{brand_name}}】您的验证码是 {{code}}。", "请勿将验证码告诉他人。", "{{ttl}} 分钟内有效。"),
    "zh_HK": ("【{{brand_name}}】您的驗證碼是 {{code}}。", "請勿將驗證碼告訴他人。", "{{ttl}} 分鐘內有效。"),
    "ja": ("【{{brand_name}}】認証コードは {{code}} です。", "このコードを他人に教えないでください。",
           "有効期限は {{ttl}} 分です。"),
    "th": ("[{{brand_name}}] รหัสยืนยันของคุณคือ {{code}}", "ห้ามเปิดเผยรหัสนี้กับผู้อื่น",
           "รหัสจะหมดอายุใน {{ttl}} นาที"),
    "es": ("[{{brand_name}}] Su código de verificación es {{code}}.", "No comparta este código con nadie.",
           "Caduca en {{ttl}} minutos."),
}


def default_text(language: str, contain_security: bool, contain_expire: bool) -> str:
    """The default style's text for a language, before variables are filled."""
    main, security, expire = STYLES.get(language, STYLES["default"])
    parts = [main]
    if contain_security:
        parts.append(security)
    if contain_expire:
        parts.append(expire)
    return " ".join(parts)

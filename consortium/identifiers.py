"""Identifiers with check digits: local government codes and corporate numbers.

Local government codes (全国地方公共団体コード) are five digits and a check digit.

The check digit is the last digit of 11 minus the remainder of the weighted sum
(weights 6, 5, 4, 3, 2) divided by 11, as published by the Ministry of Internal
Affairs and Communications. 盛岡市 is 03201 → 032018.
"""

from __future__ import annotations

from core.errors import Invalid

__all__ = [
    "InvalidCorporateNumber",
    "InvalidLocalGovernmentCode",
    "check_digit",
    "validate_corporate_number",
    "validate_lg_code",
]

_WEIGHTS = (6, 5, 4, 3, 2)


class InvalidLocalGovernmentCode(Invalid, ValueError):
    """The text is not a valid six-digit local government code."""


def check_digit(first_five: str) -> int:
    """The check digit for the first five digits of a code."""
    if len(first_five) != 5 or not first_five.isascii() or not first_five.isdigit():
        raise InvalidLocalGovernmentCode("地方公共団体コードの先頭5桁は半角数字で入力してください。")
    total = sum(int(d) * w for d, w in zip(first_five, _WEIGHTS, strict=True))
    return (11 - total % 11) % 10


def validate_lg_code(code: str) -> str:
    """Return the normalised six-digit code, or raise with a message in Japanese."""
    code = code.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise InvalidLocalGovernmentCode("地方公共団体コードは6桁の数字です（例：盛岡市 032018）。")
    if check_digit(code[:5]) != int(code[5]):
        raise InvalidLocalGovernmentCode(
            f"地方公共団体コード {code} の検査数字が正しくありません。6桁目をご確認ください。"
        )
    return code


class InvalidCorporateNumber(Invalid, ValueError):
    """The text is not a valid 13-digit corporate number (法人番号)."""


def validate_corporate_number(number: str) -> str:
    """Return the normalised 法人番号, or raise with a message in Japanese.

    The first digit is a check digit: 9 minus the remainder, divided by 9, of the
    sum of the other twelve digits weighted 1, 2, 1, 2 … from the right.
    """
    number = number.strip().replace("-", "").translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        raise InvalidCorporateNumber("法人番号は13桁の数字です。")
    base = number[1:]
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(base)))
    if 9 - total % 9 != int(number[0]):
        raise InvalidCorporateNumber(f"法人番号 {number} の検査用数字が正しくありません。")
    return number

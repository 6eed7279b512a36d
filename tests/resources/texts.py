"""Features whose fast Polars forms are exact on most rows but not all: case mapping of non-ASCII text (also of
a derived text, chained), float remainders beyond 2**51 (tests/frame/test_assumed_fast_paths.py)."""


def label(name: str) -> str:
    return name.strip().lower()


def shout(label: str) -> str:
    """Reads a feature whose own fast path may fail: checked again once that one is patched."""
    return label.upper()


def same_country(card_country: str, merchant_country: str) -> bool:
    return card_country.upper() != merchant_country.upper()


def round_hundred(amount: float) -> bool:
    return amount % 100 == 0


def cents_left(amount: float) -> float:
    return amount % 7

"""One feature of each Hamilton-style kind: parameterized, extracted fields, excluded and private helpers,
defaults, a config-bound parameter (tests/engines/test_authoring_engines.py)."""

import fdag


@fdag.parameterize(
    over_100={"limit": fdag.value(100)},  # an int bound to a float parameter is widened
    over_limit={"limit": fdag.ref("credit_limit")},
    over_doubled={"limit": fdag.ref("doubled")},
    at_limit=({"limit": fdag.ref("credit_limit")}, "Whether the amount is above the credit limit."),
)
def over(amount: float, limit: float) -> bool:
    """Whether the amount is above {limit}."""
    return amount > limit


def doubled(amount: float) -> float:
    return amount * 2


@fdag.extract_fields({"head": str, "tail_len": int, "code": int | None})
def split(text: str | None) -> dict:
    if text is None:
        return None
    head, _, tail = text.partition("-")
    if head == "boom":
        raise ValueError("boom")
    if tail == "":
        return {"head": head, "tail_len": 0}  # no 'code': that field's error
    if tail == "x":
        return {"head": head, "tail_len": len(tail), "code": "x"}  # mistyped
    return {"head": head, "tail_len": len(tail), "code": len(head) * 7}


@fdag.exclude
def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else (high if value > high else value)


def _safe_ratio(a: float, b: float) -> float:
    return a / b


def bounded_ratio(amount: float, credit_limit: float) -> float:
    return clamp(_safe_ratio(amount, credit_limit), -1.0, 1.0)


def fee(amount: float, fee_rate: float = 0.02, floor: float | None = None) -> float:
    cost = amount * fee_rate
    return cost if floor is None or cost > floor else floor


def scaled(amount: float, scale: float) -> float:  # 'scale' is a config key
    return amount * scale


@fdag.extract_fields({"sign": int, "magnitude": float, "big": bool})
def sign_parts(amount: float) -> dict:
    if amount > 400:
        return {"sign": 1, "magnitude": amount}  # no 'big': that field's error on these rows
    if amount == 0:
        return None
    return {"sign": 1 if amount > 0 else -1, "magnitude": abs(amount), "big": amount > 300}

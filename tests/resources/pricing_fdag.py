"""Pricing features written with fdag's decorators: the twin of pricing_hamilton, line for line."""

import fdag


@fdag.config.when(region="eu")
def vat_rate__eu() -> float:
    return 0.2


@fdag.config.when_in(region=["us", "ca"])
def vat_rate__americas() -> float:
    return 0.0


@fdag.config.when(region="uk")
def vat_rate__uk() -> float:
    return 0.175


@fdag.config.when(region="eu", tier="gold")
def discount__eu_gold() -> float:
    return 0.1


@fdag.config.when_in(region=["us", "ca", "uk"], tier=["gold"])
def discount__gold() -> float:
    return 0.05


@fdag.config.when_not(tier="gold")
def discount__none() -> float:
    return 0.0


def region_code(region: str) -> str:
    return region.upper()


def gross(net: float, vat_rate: float, discount: float) -> float:
    return net * (1 + vat_rate) * (1 - discount)


@fdag.parameterize(
    over_100={"limit": fdag.value(100.0)},
    over_limit={"limit": fdag.ref("credit_limit")},
    over_net={"limit": fdag.ref("net")},
)
def over(gross: float, limit: float) -> bool:
    return gross > limit


@fdag.extract_fields({"lo": int, "hi": int, "label": str})
def bucket(net: float) -> dict:
    if net < 0:
        return {"lo": -10, "hi": 0, "label": "refund"}
    lo = int(net // 10) * 10
    return {"lo": lo, "hi": lo + 10, "label": "small" if lo < 100 else "large"}


def fee(net: float, fee_rate: float = 0.015) -> float:
    return round_cents(abs(net) * fee_rate)


@fdag.exclude
def round_cents(amount: float) -> float:
    return _floor(amount * 100 + 0.5) / 100


def _floor(x: float) -> float:
    return float(int(x)) if x >= 0 or x == int(x) else float(int(x) - 1)

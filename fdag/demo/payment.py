"""Request-time features of a card payment (the card-fraud example of the feature-store literature).

Every public function is a feature; its parameters are the request's fields or other features. None of these
need history: they are computed from the payment being scored, so they are exact online and offline.
"""

from __future__ import annotations

import math
from datetime import datetime

import fdag

HIGH_RISK_CATEGORIES = ("gambling", "crypto", "money_transfer", "gift_cards")
LARGE_AMOUNT = 1000.0


@fdag.tag(owner="risk", pii=False)
def amount_bucket(amount: float) -> int:
    """Payment size on a log-10 scale: 0 below 10, 1 below 100, 2 below 1,000, ..."""
    if amount < 10:
        return 0
    if amount < 100:
        return 1
    if amount < 1000:
        return 2
    return 3


def log_amount(amount: float) -> float:
    """Natural log of 1 + amount; undefined (an error) for refunds below -1."""
    return math.log1p(amount)


def amount_cents(amount: float) -> int:
    """The amount in cents, rounded half-to-even like the ledger."""
    return round(amount * 100)


def is_round_amount(amount: float) -> bool:
    """Whole hundreds are typical of card-testing and cash-out fraud."""
    return amount % 100 == 0


def is_large_amount(amount: float) -> bool:
    return amount >= LARGE_AMOUNT


def hour_of_day(as_of: datetime) -> int:
    """Hour (UTC) the payment is scored at."""
    return as_of.hour


def day_of_week(as_of: datetime) -> int:
    """Monday = 0 ... Sunday = 6."""
    return as_of.weekday()


def is_weekend(day_of_week: int) -> bool:
    return day_of_week >= 5


def is_night(hour_of_day: int) -> bool:
    """Between midnight and 6 am UTC, when fraud rates peak."""
    return hour_of_day < 6


def merchant_category_clean(merchant_category: str) -> str:
    """Category as the model sees it: trimmed and lower-cased."""
    return merchant_category.strip().lower()


@fdag.tag(owner="risk")
def is_high_risk_category(merchant_category_clean: str) -> bool:
    return merchant_category_clean in HIGH_RISK_CATEGORIES


def is_cross_border(card_country: str, merchant_country: str) -> bool:
    """The card was issued in another country than the merchant's."""
    return card_country.upper() != merchant_country.upper()


def is_new_account(account_age_days: int) -> bool:
    return account_age_days < 30


def account_age_weeks(account_age_days: int) -> int:
    return account_age_days // 7


def amount_per_account_day(amount: float, account_age_days: int) -> float:
    """Spend relative to account age; a one-day-old account has age 1. Age 0 is an error (null)."""
    return amount / account_age_days


def limit_utilisation(amount: float, daily_limit: float | None) -> float | None:
    """Share of the card's daily limit this payment uses; unknown when the card has no limit."""
    if daily_limit is None or daily_limit <= 0:
        return None
    return amount / daily_limit


def card_not_present_risk(card_present: bool, is_cross_border: bool) -> int:
    """0 in person, 1 online at home, 2 online abroad."""
    if card_present:
        return 0
    return 2 if is_cross_border else 1


def night_large(is_night: bool, is_large_amount: bool) -> bool:
    return is_night and is_large_amount


def risk_flags(
    is_high_risk_category: bool, is_cross_border: bool, is_new_account: bool, night_large: bool, is_round_amount: bool
) -> int:
    """How many independent red flags the payment raises."""
    return int(is_high_risk_category) + int(is_cross_border) + int(is_new_account) + int(night_large) + int(
        is_round_amount
    )


@fdag.tag(owner="risk", model_input=True)
def risk_score(risk_flags: int, log_amount: float | None, card_not_present_risk: int) -> float:
    """A hand-set baseline score in [0, 1): flags, size and channel, squashed by a logistic."""
    size = log_amount if log_amount is not None else 0.0
    z = 0.8 * risk_flags + 0.3 * size + 0.5 * card_not_present_risk - 4.0
    return 1 / (1 + math.exp(-z))

"""Distance features calling pure helpers (a _private one and an @fdag.exclude one): translated with the helpers
inlined (tests/frame/test_inlined_helpers.py)."""

import math

import fdag


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


@fdag.exclude
def per_hour(km: float, minutes: float) -> float:
    if minutes <= 0:
        raise ValueError("a trip takes time")
    return km / (minutes / 60)


def _countdown(n: int) -> int:
    return 0 if n <= 0 else _countdown(n - 1)


def _with_default(x: float, y: float = 1.0) -> float:
    return x + y


def trip_km(pickup_lat: float, pickup_lon: float, dropoff_lat: float, dropoff_lon: float) -> float:
    return _haversine(pickup_lat, pickup_lon, dropoff_lat, dropoff_lon)


def speed_kmh(trip_km: float, minutes: float) -> float:
    return per_hour(trip_km, minutes)


def recursive(n: int) -> int:
    return _countdown(min(n, 50))  # bounded: RecursionError's text depends on the stack it hits


def defaulted(minutes: float) -> float:
    return _with_default(minutes)

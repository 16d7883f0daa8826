"""Counts of one location on one day: a logistic epidemic curve with seeded noise per location.

Deaths, recovered and active are derived the way JHU reported them (US counties report no recovered).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date

from covid_pipeline.sample_data.locations import EPOCH, Location

DEFAULT_SEED = 2020


def _logistic(location: Location, day: date) -> float:
    t = (day - EPOCH).days
    curve = location.final_confirmed / (1.0 + math.exp(-(t - location.midpoint_day) / location.width_days))
    if location.ramp_days:  # both factors grow with time, so the product stays monotone
        curve *= min(1.0, max(0.0, ((day - location.first_report).days + 1) / location.ramp_days)) ** 2
    return curve


@dataclass
class Counts:
    confirmed: int
    deaths: int
    recovered: int | None
    active: int | None


def counts_for(location: Location, day: date, seed: int = DEFAULT_SEED) -> Counts:
    # The noise is per location, not per day, so cumulative counts never fall by accident.
    scale = random.Random(f"{seed}:{location.uid}").uniform(0.9, 1.1)
    confirmed = max(1, round(_logistic(location, day) * scale))
    deaths = round(confirmed * location.fatality * min(1.0, 0.3 + (day - EPOCH).days / 60))
    recovered: int | None
    if location.is_us_county:
        recovered = 0  # JHU reported no recovered for US counties
    else:
        recovered = round((confirmed - deaths) * min(0.92, max(0.0, ((day - EPOCH).days - 14) / 120)))
    return Counts(confirmed, deaths, recovered, confirmed - deaths - (recovered or 0))

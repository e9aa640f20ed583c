"""Outdoor weather for a UK city: seasonal and daily cycles, weather, sunshine, humidity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LEEDS", "Climate", "Weather"]

FloatArray = npt.NDArray[np.float64]

_DAY_S = 86_400.0
_YEAR_DAYS = 365.2422
# 2000-01-01T00:00Z: the reference for day-of-year phases.
_EPOCH_2000 = 946_684_800.0


@dataclass(frozen=True, slots=True)
class Climate:
    """A city's climate normals; the defaults are roughly Leeds' (Met Office 1991-2020)."""

    latitude_deg: float = 53.8
    longitude_deg: float = -1.55
    annual_mean_c: float = 10.0
    # Half the difference between the July and January mean (about 16.6 and 4.4 °C).
    seasonal_amplitude_k: float = 6.1
    coldest_day_of_year: float = 20.0
    daily_amplitude_winter_k: float = 2.5
    daily_amplitude_summer_k: float = 4.5
    # Standard deviation of the day-to-day (synoptic) departures from the normal.
    weather_sd_k: float = 2.8
    outdoor_rh_mean: float = 82.0


LEEDS = Climate()


class Weather:
    """Outdoor conditions as pure functions of time and the seed: any instant, in any order.

    Weather noise is a sum of slow sinusoids with seeded phases (periods 1.7 to 19 days), so the
    weather at an instant does not depend on where a simulation started.
    """

    def __init__(self, seed: int, climate: Climate = LEEDS) -> None:
        self.climate = climate
        rng = np.random.default_rng([seed, 0x57EA])
        periods_d = np.array([1.7, 2.9, 4.3, 6.1, 9.7, 13.3, 19.1])
        self._w_temp = 2 * np.pi / (periods_d * _DAY_S)
        self._ph_temp = rng.uniform(0, 2 * np.pi, periods_d.size)
        weights = 1.0 / np.sqrt(np.arange(1, periods_d.size + 1))[::-1]
        # A sum of sinusoids of amplitudes a has variance sum(a^2)/2.
        self._a_temp = weights * climate.weather_sd_k / np.sqrt(np.sum(weights**2) / 2)
        cloud_periods_d = np.array([0.37, 0.83, 1.9, 3.7, 7.3])
        self._w_cloud = 2 * np.pi / (cloud_periods_d * _DAY_S)
        self._ph_cloud = rng.uniform(0, 2 * np.pi, cloud_periods_d.size)

    def _day_of_year(self, t: FloatArray) -> FloatArray:
        return np.mod((t - _EPOCH_2000) / _DAY_S, _YEAR_DAYS)

    def seasonal_mean(self, t: FloatArray | float) -> FloatArray:
        """The climatological daily mean temperature (°C), without weather."""
        c = self.climate
        doy = self._day_of_year(np.asarray(t, dtype=np.float64))
        phase = 2 * np.pi * (doy - c.coldest_day_of_year) / _YEAR_DAYS
        return np.asarray(c.annual_mean_c - c.seasonal_amplitude_k * np.cos(phase))

    def anomaly(self, t: FloatArray | float) -> FloatArray:
        """The weather's departure from the normal daily mean (K)."""
        tt = np.asarray(t, dtype=np.float64)[..., None]
        return np.asarray(np.sum(self._a_temp * np.sin(self._w_temp * tt + self._ph_temp), -1))

    def sun(self, t: FloatArray | float) -> FloatArray:
        """Solar irradiance on a horizontal surface (W/m²): clear-sky geometry times cloud."""
        c = self.climate
        tt = np.asarray(t, dtype=np.float64)
        doy = self._day_of_year(tt)
        declination = np.radians(23.44) * np.sin(2 * np.pi * (doy - 81) / _YEAR_DAYS)
        solar_hour = np.mod(tt / 3600.0 + c.longitude_deg / 15.0, 24.0)
        hour_angle = np.radians(15.0 * (solar_hour - 12.0))
        lat = np.radians(c.latitude_deg)
        sin_elev = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(
            hour_angle
        )
        clear = 1000.0 * np.clip(sin_elev, 0.0, None) ** 1.15
        return np.asarray(clear * self.clearness(tt))

    def clearness(self, t: FloatArray | float) -> FloatArray:
        """Fraction of clear-sky sunshine reaching the ground, 0.2 (overcast) to 1 (clear)."""
        tt = np.asarray(t, dtype=np.float64)[..., None]
        x = np.sum(np.sin(self._w_cloud * tt + self._ph_cloud), -1) / 2.0
        return np.asarray(0.2 + 0.8 / (1.0 + np.exp(-2.0 * (x - 0.3))))

    def temperature(self, t: FloatArray | float) -> FloatArray:
        """Outdoor air temperature (°C)."""
        c = self.climate
        tt = np.asarray(t, dtype=np.float64)
        mean = self.seasonal_mean(tt)
        summerness = (mean - (c.annual_mean_c - c.seasonal_amplitude_k)) / (
            2 * c.seasonal_amplitude_k
        )
        amplitude = c.daily_amplitude_winter_k + summerness * (
            c.daily_amplitude_summer_k - c.daily_amplitude_winter_k
        )
        # Coldest about 03:00 solar, warmest about 15:00; sunny days swing more.
        solar_hour = np.mod(tt / 3600.0 + c.longitude_deg / 15.0, 24.0)
        daily = -np.cos(2 * np.pi * (solar_hour - 3.0) / 24.0)
        swing = amplitude * (0.6 + 0.6 * self.clearness(tt))
        return np.asarray(mean + self.anomaly(tt) + swing * daily)

    def relative_humidity(self, t: FloatArray | float) -> FloatArray:
        """Outdoor relative humidity (%): high at night, lower on sunny afternoons."""
        c = self.climate
        tt = np.asarray(t, dtype=np.float64)
        solar_hour = np.mod(tt / 3600.0 + c.longitude_deg / 15.0, 24.0)
        daily = np.cos(2 * np.pi * (solar_hour - 3.0) / 24.0)
        rh = c.outdoor_rh_mean + 8.0 * daily * self.clearness(tt) - 6.0 * (self.clearness(tt) - 0.5)
        return np.asarray(np.clip(rh, 45.0, 98.0))

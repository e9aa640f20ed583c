"""Sensor drivers written against the HAL's I2C bus; each reports a clear status on failure."""

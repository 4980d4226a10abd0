from harness.core.units import Duration, Energy, Power, co2e_kg


def test_energy_from_power_and_time_in_lab_units() -> None:
    e = Energy.from_power_and_time(Power.from_mw(40.0), Duration.from_ms(180.0))
    assert e.mj == 40.0 * 180.0 / 1000.0  # mW x ms = uJ; /1000 = mJ
    assert e.uj == 40.0 * 180.0


def test_power_times_duration_and_energy_over_duration_are_inverse() -> None:
    p = Power.from_mw(12.5)
    d = Duration.from_us(250.0)
    assert (p * d) / d == Power(p.watts)


def test_co2e_uses_kwh() -> None:
    e = Energy.from_kwh(2.0)
    assert e.joules == 7.2e6
    assert co2e_kg(e, 0.4) == 0.8

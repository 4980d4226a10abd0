"""On-board power rails: fake sysfs trees and captured command output whose power and energy are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import DataError, MeasurementError
from harness.power.rails.android import BatterySample, battery_snapshots, detect_convention, read_battery
from harness.power.rails.base import RailSnapshot, energy_j
from harness.power.rails.hwmon import read_hwmon
from harness.power.rails.jetson import read_jetson
from harness.power.rails.rpi5 import parse_pmic_read_adc, pmic_total_w


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, value in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return root


def jetson_orin(root: Path, vdd_in_ma: int) -> Path:
    """JetPack 5/6: the mainline ina3221 hwmon driver with Orin's rail labels (channel 7 is the shunt sum)."""
    return write_tree(root, {
        "sys/class/hwmon/hwmon0/name": "cpu_thermal",
        "sys/class/hwmon/hwmon3/name": "ina3221",
        "sys/class/hwmon/hwmon3/in1_label": "VDD_IN", "sys/class/hwmon/hwmon3/in1_input": "5000",
        "sys/class/hwmon/hwmon3/curr1_input": str(vdd_in_ma),
        "sys/class/hwmon/hwmon3/in2_label": "VDD_CPU_GPU_CV", "sys/class/hwmon/hwmon3/in2_input": "4984",
        "sys/class/hwmon/hwmon3/curr2_input": "402",
        "sys/class/hwmon/hwmon3/in3_label": "VDD_SOC", "sys/class/hwmon/hwmon3/in3_input": "4992",
        "sys/class/hwmon/hwmon3/curr3_input": "815",
        "sys/class/hwmon/hwmon3/in4_input": "12040", "sys/class/hwmon/hwmon3/in7_label": "sum of shunt voltages",
        "sys/class/hwmon/hwmon3/in7_input": "20000",
    })


def test_ina219_power_is_the_chips_own_in_microwatts(tmp_path: Path) -> None:
    hwmon = "sys/class/hwmon/hwmon1"
    write_tree(tmp_path, {f"{hwmon}/name": "ina219", f"{hwmon}/in1_input": "5012", f"{hwmon}/curr1_input": "402",
                          f"{hwmon}/power1_input": "2014000"})
    (rail,) = read_hwmon(tmp_path)
    assert (rail.rail, rail.power_w, rail.voltage_v, rail.current_a) == ("ina219:hwmon1", 2.014, 5.012, 0.402)
    assert rail.source == "hwmon1/power1_input [uW] / 1e6 -> W"
    (tmp_path / "sys/class/hwmon/hwmon1/power1_input").unlink()
    (rail,) = read_hwmon(tmp_path)
    assert rail.power_w == pytest.approx(5012 * 402 / 1e6) and "[mV] x curr1_input [mA]" in rail.source


def test_ina3221_labelled_channels_are_rails_and_shunt_channels_are_not(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "sys/class/hwmon/hwmon2/name": "ina3221",
        "sys/class/hwmon/hwmon2/in1_label": "5V_CAM", "sys/class/hwmon/hwmon2/in1_input": "5080",
        "sys/class/hwmon/hwmon2/curr1_input": "1232",
        "sys/class/hwmon/hwmon2/in2_input": "3300", "sys/class/hwmon/hwmon2/curr2_input": "100",
        "sys/class/hwmon/hwmon2/in3_enable": "0", "sys/class/hwmon/hwmon2/in3_input": "0",
        "sys/class/hwmon/hwmon2/curr3_input": "0",
        "sys/class/hwmon/hwmon2/in4_input": "24640", "sys/class/hwmon/hwmon2/in7_label": "sum of shunt voltages",
    })
    rails = read_hwmon(tmp_path)
    assert [r.rail for r in rails] == ["5V_CAM", "hwmon2:ch2"]
    assert rails[0].power_w == pytest.approx(6.25856) and rails[1].power_w == pytest.approx(0.33)
    assert not any(r.total for r in rails)


def test_an_energy_counter_in_microjoules_wins_over_power_readings(tmp_path: Path) -> None:
    def snapshot(t: float, uw: int, uj: int) -> RailSnapshot:
        write_tree(tmp_path, {"sys/class/hwmon/hwmon0/name": "amdgpu", "sys/class/hwmon/hwmon0/power1_label": "PPT",
                              "sys/class/hwmon/hwmon0/power1_input": str(uw),
                              "sys/class/hwmon/hwmon0/energy1_input": str(uj)})
        return RailSnapshot(t, tuple(read_hwmon(tmp_path)))

    shots = [snapshot(0.0, 40_000_000, 1_000_000), snapshot(1.0, 50_000_000, 3_500_000)]
    assert shots[0].rail("PPT").power_w == 40.0 and "energy1_input [uJ] / 1e6 -> J" in shots[0].rail("PPT").source
    assert energy_j(shots, "PPT") == pytest.approx(2.5)  # the counter: 3.5 J - 1.0 J, not (40 + 50) / 2 W x 1 s
    wrapped = [shots[1], snapshot(2.0, 50_000_000, 200)]
    assert energy_j(wrapped, "PPT") == pytest.approx(50.0)  # a counter that went back: power readings instead


def test_jetson_jetpack5_rails_with_vdd_in_as_the_total_and_their_energy(tmp_path: Path) -> None:
    shots = []
    for t, ma in ((0.0, 1000), (0.5, 1400), (1.5, 1200)):
        shots.append(read_jetson(jetson_orin(tmp_path, ma), time_s=t))
    first = shots[0]
    assert [r.rail for r in first.readings] == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]
    assert first.total is not None and first.total.rail == "VDD_IN" and first.total.power_w == 5.0
    assert first.rail("VDD_SOC").power_w == pytest.approx(4.992 * 0.815)
    # 5.0, 7.0, 6.0 W: 0.5 s x 6 W + 1.0 s x 6.5 W
    assert energy_j(shots, "VDD_IN") == pytest.approx(9.5)


def test_jetson_jetpack4_ina3221x_rails_in_milliwatts(tmp_path: Path) -> None:
    iio = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    write_tree(tmp_path, {f"{iio}/rail_name_0": "POM_5V_IN", f"{iio}/in_power0_input": "2875",
                          f"{iio}/in_voltage0_input": "5000", f"{iio}/in_current0_input": "575",
                          f"{iio}/rail_name_1": "POM_5V_GPU", f"{iio}/in_power1_input": "39",
                          f"{iio}/rail_name_2": "POM_5V_CPU", f"{iio}/in_power2_input": "558"})
    snapshot = read_jetson(tmp_path)
    assert [(r.rail, r.power_w) for r in snapshot.readings] == [("POM_5V_IN", 2.875), ("POM_5V_GPU", 0.039),
                                                                ("POM_5V_CPU", 0.558)]
    assert snapshot.total is not None and snapshot.total.rail == "POM_5V_IN"
    assert snapshot.total.voltage_v == 5.0 and snapshot.total.current_a == 0.575
    assert snapshot.total.source == "6-0040/iio:device0/in_power0_input [mW] / 1e3 -> W"


def test_a_board_without_jetson_rails_is_told_so(tmp_path: Path) -> None:
    write_tree(tmp_path, {"sys/class/hwmon/hwmon0/name": "ina219", "sys/class/hwmon/hwmon0/power1_input": "1"})
    with pytest.raises(MeasurementError, match="no Jetson power rails"):
        read_jetson(tmp_path)


PMIC = """\
 3V7_WL_SW_A current(0)=0.00780744A
   3V3_SYS_A current(1)=0.12199130A
  VDD_CORE_A current(7)=0.75012000A
 3V7_WL_SW_V volt(8)=3.70000000V
   3V3_SYS_V volt(9)=3.30000000V
  VDD_CORE_V volt(15)=0.72178200V
     EXT5V_V volt(24)=5.10937500V
      BATT_V volt(25)=0.00000000V
"""


def test_raspberry_pi5_pmic_rails_pair_current_and_voltage_by_name() -> None:
    snapshot = parse_pmic_read_adc(PMIC)
    assert [r.rail for r in snapshot.readings] == ["3V7_WL_SW", "3V3_SYS", "VDD_CORE"]  # EXT5V, BATT: voltage only
    assert snapshot.rail("VDD_CORE").power_w == pytest.approx(0.75012 * 0.721782)
    expected = 0.00780744 * 3.7 + 0.1219913 * 3.3 + 0.75012 * 0.721782
    assert pmic_total_w(snapshot) == pytest.approx(expected)
    later = parse_pmic_read_adc(PMIC.replace("0.75012000A", "1.75012000A"), time_s=2.0)
    assert energy_j([snapshot, later], "VDD_CORE") == pytest.approx((0.75012 + 1.75012) * 0.721782 / 2 * 2.0)


def test_pmic_output_that_is_not_a_reading_is_refused() -> None:
    with pytest.raises(DataError, match="line 2"):
        parse_pmic_read_adc(" VDD_CORE_A current(7)=0.75A\n VDD_CORE_V volt(15)=0.72A\n")
    with pytest.raises(DataError, match="not a PMIC reading") as e:
        parse_pmic_read_adc('error=1 error_msg="Command not registered"\n')
    assert "Raspberry Pi 5" in str(e.value)


def test_android_battery_in_the_kernel_convention(tmp_path: Path) -> None:
    base = "sys/class/power_supply/battery"
    write_tree(tmp_path, {f"{base}/current_now": "-350000", f"{base}/voltage_now": "3850000",
                          f"{base}/status": "Discharging"})
    samples = [read_battery(tmp_path, time_s=0.0),
               BatterySample(1.0, -450000, 3840000, "Discharging"), BatterySample(3.0, -400000, 3830000, "Discharging")]
    convention = detect_convention(samples)
    assert convention.describe.startswith("current_now in uA, voltage_now in uV, negative while discharging")
    shots = battery_snapshots(samples, convention)
    assert shots[0].total is not None and shots[0].total.power_w == pytest.approx(0.35 * 3.85)
    assert "negative while discharging" in shots[0].total.source
    p = [0.35 * 3.85, 0.45 * 3.84, 0.40 * 3.83]
    assert energy_j(shots, "battery") == pytest.approx((p[0] + p[1]) / 2 * 1.0 + (p[1] + p[2]) / 2 * 2.0)


def test_android_battery_from_a_vendor_reporting_positive_milliamps() -> None:
    samples = [BatterySample(0.0, 0, 3850, "Charging"), BatterySample(1.0, 350, 3850, "Discharging"),
               BatterySample(2.0, 450, 3840, "Discharging")]
    convention = detect_convention(samples)
    assert (convention.current_scale_a, convention.voltage_scale_v, convention.discharge_sign) == (1e-3, 1e-3, 1)
    assert "mA" in convention.describe and "positive while discharging" in convention.describe
    assert battery_snapshots(samples, convention)[1].rail("battery").power_w == pytest.approx(0.35 * 3.85)


def test_a_battery_that_never_discharges_cannot_measure_the_phone() -> None:
    with pytest.raises(MeasurementError, match="never reported Discharging") as e:
        detect_convention([BatterySample(0.0, 500000, 4200000, "Charging"), BatterySample(1.0, 0, 4200000, "Full")])
    assert "unplug USB power" in str(e.value)

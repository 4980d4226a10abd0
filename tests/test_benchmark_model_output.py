"""LiteRT benchmark_model output in the forms the tool has printed: old and new stats lines, both memory lines,
scientific notation, logcat prefixes, all-equal samples, and output that is not a benchmark."""

from __future__ import annotations

import pytest

from harness.core.errors import DataError
from harness.devices.benchmark_model.output import Memory, TimingStats, parse_benchmark_output

OLD_ANDROID = """\
STARTING!
Num threads: [4]
Graph: [/data/local/tmp/yolov5s_fp32_640.tflite]
The input model file size (MB): 28.7
Initialized session in 16.242ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=2 first=360262 curr=248910 min=248910 max=360262 avg=304586 std=55676

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=249042 curr=250889 min=247067 max=254474 avg=249684 std=1442

Inference timings in us: Init: 16242, First inference: 360262, Warmup (avg): 304586, Inference (avg): 249684
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory \
footprint of the model at runtime. Take the information at your discretion.
Peak memory footprint (MB): init=4.92969 overall=138.809
"""

SCIENTIFIC_DELTA = """\
Loaded model ./mobilenet_v1_1.0_224.tflite
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=1 curr=3512391

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798

Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, Inference (avg): 2.95034e+06
Memory footprint delta from the start of the tool (MB): init=4.21094 overall=46.0859
"""

LOGCAT_PERCENTILES = """\
I tflite  : Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
I tflite  : count=4 first=211669 curr=190000 min=190000 max=240000 avg=211669 std=18000
I tflite  : Running benchmark for at least 25 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
I tflite  : count=25 first=187533 curr=140990 min=140071 max=195121 avg=145528 std=13583 p5=140545 median=141253 \
p95=187533
I tflite  : Inference timings in us: Init: 92318, First inference: 187533, Warmup (avg): 211669, Inference (avg): 145528
I tflite  : Memory footprint delta from the start of the tool (MB): init=54.2852 overall=73.4102
I tflite  : Overall peak memory footprint (MB) via periodic monitoring: 75.25
"""


def test_an_android_run_with_the_peak_memory_line() -> None:
    out = parse_benchmark_output(OLD_ANDROID)
    assert out.warmup == TimingStats(2, 248910, 248910, 360262, 304586, 55676, first_us=360262)
    assert out.inference == TimingStats(50, 250889, 247067, 254474, 249684, 1442, first_us=249042)
    assert (out.init_us, out.first_inference_us, out.warmup_avg_us, out.inference_avg_us) == \
        (16242, 360262, 304586, 249684)
    assert out.memory == Memory("peak", 4.92969, 138.809) and out.periodic_peak_mb is None
    assert out.model_size_mb == 28.7


def test_scientific_notation_and_an_all_equal_warmup() -> None:
    out = parse_benchmark_output(SCIENTIFIC_DELTA)
    assert out.warmup == TimingStats(1, 3512391, 3512391, 3512391, 3512391, 0.0, all_same=True)
    assert out.inference.avg_us == 2950340.0 and out.inference.std_us == 109798
    assert out.warmup_avg_us == 3512390.0 and out.inference_avg_us == 2950340.0
    assert out.memory == Memory("delta", 4.21094, 46.0859)


def test_logcat_lines_with_percentiles_and_periodic_memory() -> None:
    out = parse_benchmark_output(LOGCAT_PERCENTILES)
    inference = out.inference
    assert (inference.count, inference.p5_us, inference.median_us, inference.p95_us) == (25, 140545, 141253, 187533)
    assert out.warmup is not None and out.warmup.count == 4 and out.warmup.p5_us is None
    assert out.memory == Memory("delta", 54.2852, 73.4102) and out.periodic_peak_mb == 75.25


def test_samples_all_equal_print_count_and_curr_only() -> None:
    out = parse_benchmark_output("count=10 curr=1500(all same)\n")
    assert out.inference == TimingStats(10, 1500, 1500, 1500, 1500, 0.0, all_same=True) and out.warmup is None


def test_output_without_statistics_says_what_the_tool_reported() -> None:
    with pytest.raises(DataError, match="no timing statistics.*Failed to allocate tensors") as e:
        parse_benchmark_output("STARTING!\nERROR: Node number 3 (CONV_2D) failed to prepare.\n"
                               "Failed to allocate tensors!\nBenchmarking failed.\n", source="pixel7.log")
    assert str(e.value).startswith("pixel7.log:")


def test_a_summary_that_disagrees_with_the_timed_runs_is_refused() -> None:
    mixed = OLD_ANDROID.replace("Inference (avg): 249684", "Inference (avg): 149684")
    with pytest.raises(DataError, match="disagrees"):
        parse_benchmark_output(mixed)


def test_an_unknown_statistic_is_refused() -> None:
    with pytest.raises(DataError, match="unknown statistic 'p99'"):
        parse_benchmark_output("count=5 first=1 curr=2 min=1 max=3 avg=2 std=1 p99=3\n")


def test_a_phase_without_inferences_prints_count_zero() -> None:
    out = parse_benchmark_output("count=0\n\ncount=1 curr=1510\n"
                                 "Inference timings in us: Init: 18342, First inference: 0, Warmup (avg): 0, "
                                 "Inference (avg): 1510\n")
    assert out.warmup is not None and out.warmup.count == 0 and out.inference.avg_us == 1510
    with pytest.raises(DataError, match="timed phase ran no inference"):
        parse_benchmark_output("count=2 curr=5(all same)\ncount=0\n")

"""The README's main job: the demonstration prints rates that agree with theory."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from inferno_lightning.demo import lif_rate


def test_lif_rate_closed_form_by_hand() -> None:
    # R I = 20 mV above rest, 15 mV to threshold: n* = ceil(200 ln 4) = 278 steps of 0.1 ms,
    # plus 20 refractory steps less the spike step: 297 steps = 29.7 ms.
    rate = lif_rate(
        20.0, step_time=0.1, time_constant=20.0, resistance=1.0, rest_v=-65.0,
        reset_v=-65.0, thresh_v=-50.0, refrac_t=2.0,
    )  # fmt: skip
    assert math.ceil(200 * math.log(4.0)) == 278
    assert rate == pytest.approx(1000.0 / 29.7)


@pytest.mark.slow
def test_demo_command_prints_rates_that_match_theory() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inferno_lightning.demo"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    section = lines.index(next(line for line in lines if line.startswith("1. LIF f-I curve")))
    rows = []
    for line in lines[section + 2 :]:
        if not line.strip():
            break
        rows.append([float(v) for v in line.split()])
    assert len(rows) == 9
    for current, measured, theory in rows:
        assert measured == pytest.approx(theory, abs=0.01), current

    section = lines.index(next(line for line in lines if line.startswith("2. Poisson")))
    for line in lines[section + 2 : section + 6]:
        requested, measured, expected = (float(v) for v in line.split())
        # 50 trains x 10 s: the count is Poisson with mean 500 * expected.
        sigma = math.sqrt(expected * 500) / 500
        assert abs(measured - expected) < 5 * sigma, (requested, measured, expected)

    section = lines.index(next(line for line in lines if line.startswith("3. Poisson input")))
    rises = [float(line.split()[2]) for line in lines[section + 2 : section + 10]]
    # Adaptation only grows (tc 10 s) and the first sample spikes.
    assert rises[0] > 0 and all(b >= a for a, b in zip(rises, rises[1:], strict=False))

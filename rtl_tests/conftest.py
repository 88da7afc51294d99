"""The `simulator` fixture: every RTL test runs under Icarus and Verilator, never skipped."""

from __future__ import annotations

import pytest

from lgn_compile.errors import LgnError
from lgn_compile.verify.simulate import SIMULATORS, check_simulator


@pytest.fixture(params=SIMULATORS)
def simulator(request):
    try:
        check_simulator(request.param)
    except LgnError as exc:
        pytest.fail(f"{exc} (RTL tests never skip; CI installs both simulators)")
    return request.param

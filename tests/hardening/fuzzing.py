"""Schemathesis over every operation of `/openapi.json`, driven by Hypothesis, one operation at a time.

Each operation gets a bounded, derandomized number of cases (positive and negative data); every response
is checked for a 5xx and against the status codes and schemas the document gives. Failures are
collected per operation, so one run reports every broken operation at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@dataclass
class FuzzReport:
    operations: int = 0
    cases: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.operations} operations, {self.cases} cases, {len(self.failures)} failing"]
        lines += [f"--- {name}\n{text}" for name, text in self.failures.items()]
        return "\n".join(lines)


def fuzz_app(
    app: FastAPI,
    *,
    max_examples: int,
    headers: Callable[[], dict[str, str]],
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE,),
    only: tuple[str, ...] = (),
) -> FuzzReport:
    """Run every operation of the app's document; `headers()` gives each case its credentials."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        if only and operation.path not in only:
            continue
        started = time.monotonic()
        report.operations += 1
        for mode in modes:
            if mode == GenerationMode.NEGATIVE and not (len(operation.body) or len(operation.query)):
                continue  # a path of free strings has no invalid value: Hypothesis would search in vain
            strategy = operation.as_strategy(generation_mode=mode)

            @hypothesis.settings(
                max_examples=max_examples,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                report.cases += 1
                response = case.call(headers=headers())
                case.validate_response(response, checks=CHECKS, headers=headers())

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                pass  # no invalid request exists (an operation without parameters in negative mode)
            except Exception as exc:  # noqa: BLE001  (collect every operation's failure, then report)
                name = f"{operation.method.upper()} {operation.path} ({mode.value})"
                report.failures[name] = str(exc)[:3000]
        report.seconds[f"{operation.method.upper()} {operation.path}"] = time.monotonic() - started
    return report

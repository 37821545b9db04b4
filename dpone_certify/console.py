"""The quiet terminal of `dpone-certify run`.

Dagster's event stream (and anything a step or dpone prints) goes to `<run folder>/certify.log`; the terminal
gets a progress bar over the cases and the gates (rich, only on a terminal) and, at the end, one screen: the
verdict, the failing gates, the top remediations, the comparison with the previous run, and the paths of the
report and the log. `--verbose` streams the event stream to the terminal as well (and still writes the log).

A failed gate is a verdict, never a stack trace: tracebacks stay in the log. When dpone-certify itself crashes
the terminal gets one line naming the error and the log, which holds the traceback."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dagster as dg

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.report import certification

SCREEN_WIDTH = 120
LOG_FORMAT = "%(asctime)s - dagster - %(levelname)s - %(message)s"  # as Dagster's console logger
FINISHED = {"STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY"}


@dataclass
class RunOutcome:
    run_id: str
    log_path: Path
    run_dir: Path
    result: Any = None  # ExecuteInProcessResult, None when we crashed
    crash: str | None = None  # "<ExceptionType>: message" of our own crash
    crashed_steps: list[str] = field(default_factory=list)  # steps that died of an error other than a verdict


class _Progress:
    """Counts finished steps (from Dagster's log records) and cases (behavior files written so far)."""

    def __init__(self, stream: IO[str] | None, total_steps: int, total_cases: int, cases_dir: Path) -> None:
        self.steps_done = 0
        self.current = ""
        self.failed_steps: list[str] = []
        self.crashed_steps: list[str] = []
        self._stop = threading.Event()
        self._bar = None
        self._cases_dir = cases_dir
        self._total_cases = total_cases
        if stream is not None and stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description:>6}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[now]}"),
                TimeElapsedColumn(),
                console=Console(file=stream),
                transient=True,
                refresh_per_second=4,
            )
            self._cases = self._bar.add_task("cases", total=total_cases or None, now="")
            self._steps = self._bar.add_task("gates", total=total_steps, now="")

    def on_event(self, event_type: str, step_key: str | None, error_cls: str | None) -> None:
        if event_type == "STEP_START" and step_key:
            self.current = step_key
        if event_type in FINISHED:
            self.steps_done += 1
            if event_type == "STEP_FAILURE" and step_key:
                self.failed_steps.append(step_key)
                if error_cls and not error_cls.endswith("GateFailed"):
                    self.crashed_steps.append(f"{step_key} ({error_cls})")
        if self._bar is not None:
            self._bar.update(self._steps, completed=self.steps_done, now=self.current)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            if self._bar is not None and self._cases_dir.is_dir():
                done = sum(1 for _ in self._cases_dir.rglob("*__behavior.json"))
                self._bar.update(self._cases, completed=min(done, self._total_cases or done))

    @contextlib.contextmanager
    def running(self) -> Iterator[_Progress]:
        if self._bar is None:
            yield self
            return
        self._bar.start()
        poller = threading.Thread(target=self._poll, daemon=True, name="dpone-certify-progress")
        poller.start()
        try:
            yield self
        finally:
            self._stop.set()
            poller.join(timeout=2)
            self._bar.stop()


class _ProgressHandler(logging.Handler):
    def __init__(self, progress: _Progress) -> None:
        super().__init__(level=logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, Mapping) else None
        if event is None:
            return
        error_cls = None
        data = getattr(event, "event_specific_data", None)
        error = getattr(data, "error", None)
        while error is not None:  # the innermost cause names what really broke
            error_cls = error.cls_name
            error = error.cause
        with contextlib.suppress(Exception):  # a progress bar must never take a run down
            self.progress.on_event(event.event_type_value, event.step_key, error_cls)


def _run_logger(log_path: Path, progress: _Progress) -> dg.LoggerDefinition:
    @dg.logger(config_schema={}, description="dpone-certify: the event stream to the run's log file, and the progress")
    def certify_log(init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger("dpone_certify.run", level=logging.DEBUG)
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
        logger.addHandler(_ProgressHandler(progress))
        return logger

    return certify_log


@contextlib.contextmanager
def _quiet_fds(log_path: Path, enabled: bool) -> Iterator[IO[str] | None]:
    """While the run executes, file descriptors 1 and 2 (Python's prints and warnings, dpone's children)
    append to the log. Yields a stream on the real terminal (the original stderr) for the progress bar."""
    if not enabled:
        yield sys.stderr
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # no real descriptors (embedded interpreter): nothing to silence
        yield None
        return
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    terminal = os.fdopen(os.dup(saved[1]), "w", encoding="utf-8", errors="replace")
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield terminal
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
        terminal.close()


def execute(
    job: Any,
    *,
    asset_selection: Sequence[dg.AssetKey],
    instance: dg.DagsterInstance,
    tags: Mapping[str, str],
    run_config: Mapping[str, Any] | None,
    root: Path,
    total_cases: int,
    total_steps: int,
    verbose: bool = False,
) -> RunOutcome:
    """Run `job` in-process with the event stream in the run's log file, a progress bar on the terminal."""
    from dagster._core.utils import make_new_run_id

    run_id = make_new_run_id()
    layout = EvidenceLayout(root, run_id)
    run_dir = layout.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / certification.LOG_FILE
    log_path.touch()
    outcome = RunOutcome(run_id=run_id, log_path=log_path, run_dir=run_dir)
    with _quiet_fds(log_path, enabled=not verbose) as terminal:
        matrix_dir = layout.gate_dir("source_sink_matrix", create=False)
        progress = _Progress(None if verbose else terminal, total_steps, total_cases, matrix_dir)
        loggers: dict[str, dg.LoggerDefinition] = {"certify_log": _run_logger(log_path, progress)}
        if verbose:
            from dagster._loggers import colored_console_logger

            loggers["console"] = colored_console_logger
        with progress.running():
            try:
                # Loggers missing from the run config are not started (Dagster then falls back to its console
                # logger): name each one.
                named: dict[str, Any] = {name: {"config": {}} for name in loggers}
                if verbose:
                    named["console"] = {"config": {"log_level": "DEBUG"}}
                config = {**(run_config or {}), "loggers": named}
                outcome.result = job.with_logger_defs(loggers).execute_in_process(
                    asset_selection=list(asset_selection),
                    instance=instance,
                    tags=dict(tags),
                    run_config=config,
                    raise_on_error=False,
                    run_id=run_id,
                )
            except Exception as exc:  # noqa: BLE001 - our own crash: one line on the terminal, traceback in the log
                outcome.crash = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
                with log_path.open("a", encoding="utf-8") as handle:
                    handle.write("\ndpone-certify crashed:\n" + traceback.format_exc())
        outcome.crashed_steps = progress.crashed_steps
    return outcome


_TABLE_ROW = re.compile(r"^\S+\s+(PASS|FAIL|N/A)\s")


def _cut(line: str, width: int = SCREEN_WIDTH) -> str:
    """Rows of the gate table are cut to the screen's width (the full description is in the report); the
    verdict and the paths never are."""
    if len(line) <= width or not _TABLE_ROW.match(line):
        return line
    return line[: width - 1] + "…"


def final_screen(outcome: RunOutcome, verdict_text: str) -> str:
    """The one screen printed at the end: the verdict table and line (cli.render_verdict), then the report's
    coverage, top remediations, comparison and the paths of the report and the log."""
    lines = [_cut(line) for line in verdict_text.splitlines()]
    if outcome.crash:
        lines += ["", f"dpone-certify crashed: {outcome.crash}", f"the traceback is in the log: {outcome.log_path}"]
        return "\n".join(lines)
    for step in outcome.crashed_steps:
        lines.append(_cut(f"crashed (not a verdict): {step}; traceback in the log"))
    report = certification.load(outcome.run_dir)
    if report is not None:
        files = certification.ReportFiles(
            html=outcome.run_dir / f"{certification.REPORT_STEM}.html",
            markdown=outcome.run_dir / f"{certification.REPORT_STEM}.md",
            json_path=outcome.run_dir / f"{certification.REPORT_STEM}.json",
        )
        # the verdict line and the failing gates are already above (cli's rule and table)
        lines += ["", *certification.summary_lines(report, files, width=SCREEN_WIDTH, verdict=False, why=False)]
    else:
        lines += ["", "no certification report in this run (certification_report was not selected or did not run)"]
    lines.append(f"log: {outcome.log_path}")
    return "\n".join(lines)

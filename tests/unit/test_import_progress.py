"""The progress display: a line every few seconds when the output is not a terminal, one bar redrawn
in place when it is."""

from __future__ import annotations

import io

import pytest

from intercom_contacts.importer.progress import LiveBar, ProgressLines, Tally, progress_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_line_is_printed_at_the_start_then_every_five_seconds() -> None:
    # Given the non-interactive display and a clock
    out, clock = io.StringIO(), Clock()
    progress = ProgressLines(out, clock=clock)
    tally = Tally(phase="sending", read=5000, done=0.0)
    # When it is shown many times over 11 seconds
    for second in range(12):
        clock.now = 1000.0 + second
        tally.created = second * 100
        tally.done = second * 100 / 5000
        progress.show(tally)
    # Then it printed at 0, 5 and 10 seconds only
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == [
        "sending 0%",
        "sending 10%",
        "sending 20%",
    ]


def test_a_line_names_every_count_the_rate_and_the_eta() -> None:
    # Given 10 seconds of sending, with 1,000 of 5,000 rows finished
    out, clock = io.StringIO(), Clock()
    progress = ProgressLines(out, clock=clock)
    tally = Tally(phase="sending", read=5000)
    progress.show(tally)
    clock.now += 10
    tally.queued, tally.created, tally.existing, tally.updated, tally.failed, tally.rejected = (
        3000,
        900,
        60,
        30,
        10,
        7,
    )
    tally.duplicate, tally.done = 2, 0.2
    # When it is time for a line
    progress.show(tally)
    # Then the line says each count, the rate over the phase and the time left at that rate
    assert out.getvalue().splitlines()[-1] == (
        "sending 20%: read 5000, queued 3000, created 900, existing 60, updated 30, failed 10, rejected 7, "
        "duplicate 2; "
        "100 rows/s, ETA 0:40"
    )


def test_a_new_phase_prints_at_once_and_times_its_own_rate() -> None:
    # Given a line printed while reading
    out, clock = io.StringIO(), Clock()
    progress = ProgressLines(out, clock=clock)
    tally = Tally(read=10_000, done=1.0)
    progress.show(tally)
    # When sending starts a second later
    clock.now += 1
    tally.phase, tally.done = "sending", 0.0
    progress.show(tally)
    # Then a line is printed at once, its rate counting only what was sent
    assert out.getvalue().splitlines()[-1].startswith("sending 0%: read 10000,")
    assert out.getvalue().splitlines()[-1].endswith("0 rows/s, ETA -")


def test_closing_prints_the_last_counts_once() -> None:
    # Given a line just printed
    out, clock = io.StringIO(), Clock()
    progress = ProgressLines(out, clock=clock)
    tally = Tally(phase="sending", read=10, created=5, done=0.5)
    progress.show(tally)
    # When it is closed with the same counts, nothing is repeated; with new counts, they are printed
    progress.close(tally)
    assert len(out.getvalue().splitlines()) == 1
    tally.created, tally.done = 10, 1.0
    progress.close(tally)
    assert out.getvalue().splitlines()[-1].startswith("sending 100%: read 10, queued 0, created 10,")


def test_the_live_bar_redraws_one_line_in_place_within_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a terminal 80 columns wide
    monkeypatch.setenv("COLUMNS", "80")
    out, clock = io.StringIO(), Clock()
    bar = LiveBar(out, clock=clock)
    tally = Tally(phase="sending", read=100)
    # When it is shown twice, a second apart, then closed
    bar.show(tally)
    clock.now += 1
    tally.created, tally.done = 50, 0.5
    bar.show(tally)
    bar.close(tally)
    # Then each draw returns to the line's start, fits the width, and only closing ends the line
    draws = out.getvalue().split("\r")[1:]
    assert len(draws) == 3
    assert all(len(draw.removesuffix("\n").removesuffix("\x1b[K")) <= 79 for draw in draws)
    assert draws[1].startswith("sending [############------------]  50%")
    assert out.getvalue().count("\n") == 1


def test_the_display_is_chosen_by_whether_the_output_is_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_for(io.StringIO()), ProgressLines)
    assert isinstance(progress_for(Terminal()), LiveBar)

"""The plain-text tables and the targets, from the collected results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench_common import Result
from bench_peers import PEERS, label_of

RAW = "raw"
OURS = "ours"


@dataclass
class Outcome:
    """Everything one run measured."""

    sqlite: list[Result] = field(default_factory=list)  # raw, ours and the peers
    postgres: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    postgres_note: str | None = None  # why PostgreSQL was not measured
    requested: list[int] = field(default_factory=list)  # --points (without the peer caps)

    def find(
        self, who: str, n: int, variant: str | None = None, backend: str = "sqlite"
    ) -> Result | None:
        results = self.postgres if backend == "postgresql" else self.sqlite
        for result in results:
            if (
                result.who == who
                and result.points == n
                and (variant is None or result.variant == variant)
            ):
                return result
        return None

    def sizes(self) -> list[int]:
        return sorted({r.points for r in self.sqlite if r.who == OURS})

    def peer_runs(self) -> list[tuple[str, str, list[Result]]]:
        """(label, who, results by size) for every peer that produced a result."""
        found = []
        for peer in PEERS:
            runs = sorted(
                (
                    r
                    for r in self.sqlite
                    if r.who == peer.key and (peer.variant is None or r.variant == peer.variant)
                ),
                key=lambda r: r.points,
            )
            if runs:
                found.append((peer.label, peer.key, runs))
        return found


@dataclass
class Target:
    name: str
    threshold: str
    measured: str | None  # None: not measured
    met: bool | None
    why_not_measured: str = ""

    @property
    def status(self) -> str:
        if self.met is None:
            return "NOT MEASURED"
        return "MET" if self.met else "NOT MET"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "measured": self.measured,
            "status": self.status,
            "note": self.why_not_measured or None,
        }


# Formatting ----------------------------------------------------------------------------
def n_(n: int) -> str:
    return f"{n:,}"


def rate_(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"


def ratio_(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    if ratio >= 0.01:
        return f"{ratio:.2f}x"
    return f"{ratio:.2g}x"


def div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (1,)) -> str:
    """Columns padded to their widest cell; the columns in ``left`` are left-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(c).ljust(w) if i in left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(padded).rstrip()

    rule = "  " + "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


# Sections ------------------------------------------------------------------------------
def write_section(outcome: Outcome) -> str:
    rows = []
    for n in outcome.sizes():
        raw, ours = outcome.find(RAW, n), outcome.find(OURS, n)
        raw_rate = raw.rate if raw else None
        ours_rate = ours.rate if ours else None
        if raw:
            rows.append(
                [
                    n_(n),
                    "raw sqlite3 executemany",
                    rate_(raw_rate),
                    "1.00x",
                    ratio_(div(ours_rate, raw_rate)),
                ]
            )
        if ours:
            rows.append(
                [n_(n), "ours metrics.log", rate_(ours_rate), ratio_(div(ours_rate, raw_rate)), "-"]
            )
        for label, _, runs in outcome.peer_runs():
            for peer in runs:
                if peer.points == n:
                    rows.append(
                        [
                            n_(n),
                            label,
                            rate_(peer.rate),
                            ratio_(div(peer.rate, raw_rate)),
                            ratio_(div(ours_rate, peer.rate)),
                        ]
                    )
    return "\n".join(
        [
            "1. Write: points/s logging one series on SQLite (higher is better)",
            "   raw = sqlite3 executemany, 50k rows per transaction; ours = one metrics.log call",
            "   per point + flush(); vs raw = this/raw; ours/this = our rate / this rate, same N",
            table(["N", "who", "points/s", "vs raw", "ours/this"], rows),
        ]
    )


def flatness(outcome: Outcome) -> tuple[Result, Result] | None:
    """Ours at 20k (else the smallest size of --points) and at the largest size."""
    measured = outcome.sizes()
    sizes = [n for n in measured if n in outcome.requested] or measured
    if len(sizes) < 2:
        return None
    low = 20_000 if 20_000 in sizes and sizes[-1] > 20_000 else sizes[0]
    first, last = outcome.find(OURS, low), outcome.find(OURS, sizes[-1])
    assert first is not None and last is not None
    return first, last


def flatness_section(outcome: Outcome) -> str:
    pair = flatness(outcome)
    if pair is None:
        return "2. Flatness: needs at least two sizes in --points"
    first, last = pair
    return "\n".join(
        [
            "2. Flatness: our write rate as the store grows",
            table(
                ["N", "points/s"],
                [[n_(first.points), rate_(first.rate)], [n_(last.points), rate_(last.rate)]],
                left=(),
            ),
            f"  rate at {n_(last.points)} / rate at {n_(first.points)} = "
            f"{ratio_(div(last.rate, first.rate))}",
        ]
    )


def read_section(outcome: Outcome) -> str:
    sizes = outcome.sizes()
    if not sizes:
        return "3. Read: nothing measured"
    top = sizes[-1]
    raw, ours = outcome.find(RAW, top), outcome.find(OURS, top)
    raw_rate = raw.read_rate if raw else None
    ours_rate = ours.read_rate if ours else None
    rows = [
        [
            n_(top),
            "raw sqlite3 SELECT -> dict per row",
            rate_(raw_rate),
            "1.00x",
            ratio_(div(ours_rate, raw_rate)),
        ],
        [n_(top), "ours metrics.list", rate_(ours_rate), ratio_(div(ours_rate, raw_rate)), "-"],
    ]
    for label, _, runs in outcome.peer_runs():
        peer = runs[-1]
        at_raw, at_ours = outcome.find(RAW, peer.points), outcome.find(OURS, peer.points)
        rows.append(
            [
                n_(peer.points),
                label,
                rate_(peer.read_rate),
                ratio_(div(peer.read_rate, at_raw.read_rate if at_raw else None)),
                ratio_(div(at_ours.read_rate if at_ours else None, peer.read_rate)),
            ]
        )
    return "\n".join(
        [
            "3. Read: points/s reading the whole series back (higher is better)",
            "   ours/this compares with our read at the same N; peers use their own read API",
            table(["N", "who", "points/s", "vs raw", "ours/this"], rows),
        ]
    )


def disk_section(outcome: Outcome) -> str:
    sizes = outcome.sizes()
    if not sizes:
        return "4. Disk: nothing measured"
    top = sizes[-1]
    raw, ours = outcome.find(RAW, top), outcome.find(OURS, top)
    rows = []
    for who, result in (("raw sqlite3", raw), ("ours", ours)):
        if result is not None:
            rows.append(
                [
                    n_(top),
                    who,
                    n_(result.bytes or 0),
                    f"{result.bytes_per_point:.1f}",
                    ratio_(div(result.bytes_per_point, raw.bytes_per_point if raw else None)),
                    ratio_(div(result.bytes_per_point, ours.bytes_per_point if ours else None)),
                ]
            )
    for label, _, runs in outcome.peer_runs():
        peer = runs[-1]
        if peer.bytes is None:
            continue
        at_raw, at_ours = outcome.find(RAW, peer.points), outcome.find(OURS, peer.points)
        rows.append(
            [
                n_(peer.points),
                label,
                n_(peer.bytes),
                f"{peer.bytes_per_point:.1f}",
                ratio_(div(peer.bytes_per_point, at_raw.bytes_per_point if at_raw else None)),
                ratio_(div(peer.bytes_per_point, at_ours.bytes_per_point if at_ours else None)),
            ]
        )
    return "\n".join(
        [
            "4. Disk: store size after the run (lower is better)",
            "   SQLite sizes are db + -wal + -shm after PRAGMA wal_checkpoint(TRUNCATE);",
            "   vs raw / vs ours = this size per point / theirs at the same N",
            table(["N", "who", "bytes", "bytes/point", "vs raw", "vs ours"], rows),
        ]
    )


def postgres_section(outcome: Outcome) -> str:
    if outcome.postgres_note:
        return f"5. PostgreSQL: skipped ({outcome.postgres_note})"
    rows = []
    for n in sorted({r.points for r in outcome.postgres}):
        raw = outcome.find(RAW, n, backend="postgresql")
        ours = outcome.find(OURS, n, backend="postgresql")
        raw_rate = raw.rate if raw else None
        if raw:
            rows.append([n_(n), "raw psycopg COPY", rate_(raw_rate), "1.00x"])
        if ours:
            rows.append(
                [n_(n), "ours metrics.log", rate_(ours.rate), ratio_(div(ours.rate, raw_rate))]
            )
    return "\n".join(
        [
            "5. PostgreSQL: points/s into a fresh schema (higher is better)",
            "   raw = psycopg 3 COPY, 50k rows per transaction;"
            " ours = metrics.log per point + flush()",
            table(["N", "who", "points/s", "vs raw"], rows),
        ]
    )


# Targets -------------------------------------------------------------------------------
def _ratio_target(name: str, minimum: float, ratio: float | None, missing: str) -> Target:
    if ratio is None:
        return Target(name, f">= {minimum:g}x", None, None, missing)
    return Target(name, f">= {minimum:g}x", ratio_(ratio), ratio >= minimum)


def targets(outcome: Outcome) -> list[Target]:
    found: list[Target] = []
    sizes = outcome.sizes()

    def ours_over_raw(n: int) -> float | None:
        raw, ours = outcome.find(RAW, n), outcome.find(OURS, n)
        return div(ours.rate if ours else None, raw.rate if raw else None)

    found.append(
        _ratio_target(
            "log per call vs raw sqlite3 at 200,000 points",
            0.5,
            ours_over_raw(200_000),
            "200,000 is not in --points",
        )
    )

    pair = flatness(outcome)
    if pair is None:
        found.append(
            Target("rate at 1,000,000 vs rate at 20,000", ">= 0.8x", None, None, "needs two sizes")
        )
    else:
        first, last = pair
        found.append(
            _ratio_target(
                f"rate at {n_(last.points)} vs rate at {n_(first.points)}",
                0.8,
                div(last.rate, first.rate),
                "",
            )
        )

    if sizes:
        top = sizes[-1]
        raw, ours = outcome.find(RAW, top), outcome.find(OURS, top)
        found.append(
            _ratio_target(
                f"metrics.list vs raw SELECT at {n_(top)} points",
                0.5,
                div(ours.read_rate if ours else None, raw.read_rate if raw else None),
                "",
            )
        )
    else:
        found.append(Target("metrics.list vs raw SELECT", ">= 0.5x", None, None, "no sizes"))

    peer_targets = (
        ("trackio", None, "trackio", 3.0),
        ("mlflow", "log_batch", "MLflow log_batch", 20.0),
        ("original", None, "original 0.4.0", 1000.0),
    )
    runs_by_label = {label: runs for label, _, runs in outcome.peer_runs()}
    for key, variant, name, minimum in peer_targets:
        label = label_of(key, variant or "")
        runs = runs_by_label.get(label)
        if not runs:
            found.append(_ratio_target(f"write vs {name}", minimum, None, "peer not run"))
            continue
        peer = runs[-1]
        ours = outcome.find(OURS, peer.points)
        found.append(
            _ratio_target(
                f"write vs {name} at {n_(peer.points)} points",
                minimum,
                div(ours.rate if ours else None, peer.rate),
                "ours not run at that size",
            )
        )

    if sizes and (ours := outcome.find(OURS, sizes[-1])) and ours.bytes_per_point is not None:
        bpp = ours.bytes_per_point
        found.append(
            Target(
                f"disk at {n_(sizes[-1])} points",
                "<= 100 bytes/point",
                f"{bpp:.1f} bytes/point",
                bpp <= 100,
            )
        )
    else:
        found.append(Target("disk", "<= 100 bytes/point", None, None, "no sizes"))

    pg_sizes = sorted({r.points for r in outcome.postgres})
    if not pg_sizes:
        found.append(
            Target(
                "PostgreSQL write vs raw COPY",
                ">= 0.5x",
                None,
                None,
                outcome.postgres_note or "not run",
            )
        )
    else:
        top = pg_sizes[-1]
        raw = outcome.find(RAW, top, backend="postgresql")
        ours = outcome.find(OURS, top, backend="postgresql")
        found.append(
            _ratio_target(
                f"PostgreSQL write vs raw COPY at {n_(top)} points",
                0.5,
                div(ours.rate if ours else None, raw.rate if raw else None),
                "",
            )
        )
    return found


def targets_section(found: list[Target]) -> str:
    rows = [
        [
            t.name,
            t.threshold,
            t.measured or "-",
            t.status + (f" ({t.why_not_measured})" if t.met is None and t.why_not_measured else ""),
        ]
        for t in found
    ]
    met = sum(t.met is True for t in found)
    return "\n".join(
        [
            "Targets",
            table(["target", "wanted", "measured", "status"], rows, left=(0, 3)),
            f"  {met} of {len(found)} met",
        ]
    )


def render(outcome: Outcome, found: list[Target]) -> str:
    sections = [
        write_section(outcome),
        flatness_section(outcome),
        read_section(outcome),
        disk_section(outcome),
        postgres_section(outcome),
    ]
    if outcome.notes:
        sections.append("Notes\n" + "\n".join(f"  - {note}" for note in outcome.notes))
    sections.append(targets_section(found))
    return "\n\n".join(sections)

"""The evidence map: conditions against evidence levels, each cell's claims counted by stance, laid out for SVG.

The layout is computed here, as numbers; `_evidence_map.svg.html` draws it with Jinja, so
every label from the data is escaped by the template engine and no markup is built in Python.

    chart = layout(home_page.evidence_facts(store, settings), home_page.stances(store, settings))
    render_template("home.html", chart=chart, ...)   # includes _evidence_map.svg.html
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from kgserver.pages.home import EvidenceFact
from kgserver.pages.values import Link

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), each with a text
# colour that keeps the count readable on it. Stances take them in label order.
PALETTE: tuple[tuple[str, str], ...] = (
    ("#D55E00", "#ffffff"),
    ("#CC79A7", "#1d2430"),
    ("#E69F00", "#1d2430"),
    ("#56B4E9", "#1d2430"),
    ("#8a8f98", "#ffffff"),
    ("#009E73", "#ffffff"),
    ("#0072B2", "#ffffff"),
    ("#F0E442", "#1d2430"),
)
ROW_HEIGHT = 40
MIN_COLUMN_WIDTH = 64
HEADER_HEIGHT = 150
LEGEND_HEIGHT = 44
MARK_GAP = 4
CELL_PADDING = 6
CHAR_WIDTH = 7.0  # average width of a 13px sans-serif character, to size the label column
MAX_LABEL_WIDTH = 460
RIGHT_MARGIN = 150  # the last column's slanted heading runs past the grid


@dataclass(frozen=True)
class StanceStyle:
    """A stance's colours on the map and in the legend."""

    stance: Link
    fill: str
    ink: str


@dataclass(frozen=True)
class Mark:
    """The claims of one stance in one cell: a circle sized by their number, linking to them."""

    style: StanceStyle
    claims: tuple[Link, ...]
    cx: float
    cy: float
    r: float
    href: str  # an IRI: the one claim, or the condition page when there are several

    @property
    def count(self) -> int:
        """How many claims the mark stands for."""
        return len(self.claims)


@dataclass(frozen=True)
class Cell:
    """One (condition, evidence level) pair that has claims, with its box and its marks."""

    condition: Link
    level: Link
    x: float
    y: float
    width: float
    height: float
    marks: tuple[Mark, ...]

    @property
    def count(self) -> int:
        """How many claims the cell holds."""
        return sum(mark.count for mark in self.marks)


@dataclass(frozen=True)
class Column:
    """An evidence level's column: where it starts and how wide it is."""

    level: Link
    x: float
    width: float

    @property
    def centre(self) -> float:
        """Where the column's slanted heading is anchored."""
        return self.x + self.width / 2


@dataclass(frozen=True)
class Row:
    """A condition's row and how many claims are about it."""

    condition: Link
    y: float
    count: int


@dataclass(frozen=True)
class LegendEntry:
    """A stance in the legend, placed."""

    style: StanceStyle
    x: float
    y: float


@dataclass(frozen=True)
class EvidenceMap:
    """Everything the SVG template needs: sizes, rows, columns, cells and legend."""

    width: float
    height: float
    label_width: float
    grid_top: float
    grid_bottom: float
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    cells: tuple[Cell, ...]
    legend: tuple[LegendEntry, ...]
    claims: int

    @property
    def grid_right(self) -> float:
        """Where the last column ends."""
        return self.columns[-1].x + self.columns[-1].width if self.columns else self.label_width

    def cell(self, condition: str, level: str) -> Cell | None:
        """The cell of a condition and a level, for the table that repeats the map in text."""
        return next((cell for cell in self.cells if cell.condition.iri == condition and cell.level.iri == level), None)


def radius(count: int) -> float:
    """A mark's radius: its area grows with the number of claims, and one claim stays easy to hit."""
    return round(8 + 3.5 * math.sqrt(count - 1), 1) if count > 0 else 0.0


def stance_styles(stances: list[Link]) -> dict[str, StanceStyle]:
    """A colour per stance, assigned in label order so that the same stances always look the same."""
    ordered = sorted(stances, key=lambda stance: (stance.label.lower(), stance.iri))
    return {
        stance.iri: StanceStyle(stance, *PALETTE[index % len(PALETTE)]) for index, stance in enumerate(ordered)
    }


def layout(facts: list[EvidenceFact], stances: list[Link]) -> EvidenceMap:
    """Place every condition, level and stance mark; conditions by most claims, levels strongest first (ldn:rank)."""
    styles = stance_styles(stances + [fact.stance for fact in facts if fact.stance.iri not in {s.iri for s in stances}])
    grouped: dict[tuple[str, str], dict[str, list[Link]]] = defaultdict(lambda: defaultdict(list))
    conditions: dict[str, Link] = {}
    levels: dict[str, Link] = {}
    ranks: dict[str, int] = {}
    for fact in facts:
        conditions[fact.condition.iri] = fact.condition
        levels[fact.level.iri] = fact.level
        if fact.level_rank is not None:
            ranks[fact.level.iri] = fact.level_rank
        grouped[(fact.condition.iri, fact.level.iri)][fact.stance.iri].append(fact.claim)

    per_condition = {iri: sum(len(claims) for (c, _), by in grouped.items() if c == iri for claims in by.values()) for iri in conditions}
    row_order = sorted(conditions.values(), key=lambda link: (-per_condition[link.iri], link.label.lower()))
    unranked = max(ranks.values(), default=0) + 1  # levels without a rank after the ranked ones, by label
    column_order = sorted(levels.values(), key=lambda link: (ranks.get(link.iri, unranked), link.label.lower(), link.iri))

    label_width = min(MAX_LABEL_WIDTH, 24 + CHAR_WIDTH * max((len(link.label) + 4 for link in row_order), default=10))
    grid_top = HEADER_HEIGHT
    rows = tuple(Row(link, grid_top + index * ROW_HEIGHT, per_condition[link.iri]) for index, link in enumerate(row_order))

    columns: list[Column] = []
    x = label_width
    for level in column_order:
        widest = max(
            (_marks_width([len(claims) for claims in grouped[(row.condition.iri, level.iri)].values()]) for row in rows if (row.condition.iri, level.iri) in grouped),
            default=0,
        )
        width = max(MIN_COLUMN_WIDTH, widest + 2 * CELL_PADDING)
        columns.append(Column(level, x, width))
        x += width

    cells = tuple(
        _cell(row, column, grouped[(row.condition.iri, column.level.iri)], styles)
        for row in rows
        for column in columns
        if (row.condition.iri, column.level.iri) in grouped
    )
    grid_bottom = grid_top + len(rows) * ROW_HEIGHT
    legend = _legend(list(styles.values()), grid_bottom + 24)
    height = (legend[-1].y if legend else grid_bottom) + LEGEND_HEIGHT / 2
    return EvidenceMap(
        width=round(x + RIGHT_MARGIN),
        height=round(height),
        label_width=label_width,
        grid_top=grid_top,
        grid_bottom=grid_bottom,
        rows=rows,
        columns=tuple(columns),
        cells=cells,
        legend=legend,
        claims=len({fact.claim.iri for fact in facts}),
    )


def _marks_width(counts: list[int]) -> float:
    """How much room a row of marks needs."""
    return sum(2 * radius(count) for count in counts) + MARK_GAP * max(len(counts) - 1, 0)


def _cell(row: Row, column: Column, by_stance: dict[str, list[Link]], styles: dict[str, StanceStyle]) -> Cell:
    """One cell's marks, side by side and centred, in the legend's order of stances."""
    order = [iri for iri in styles if iri in by_stance]
    counts = [len(by_stance[iri]) for iri in order]
    x = column.centre - _marks_width(counts) / 2
    cy = row.y + ROW_HEIGHT / 2
    marks = []
    for iri, count in zip(order, counts, strict=True):
        r = radius(count)
        claims = tuple(sorted(by_stance[iri], key=lambda link: link.label.lower()))
        marks.append(Mark(styles[iri], claims, round(x + r, 1), cy, r, claims[0].iri if count == 1 else row.condition.iri))
        x += 2 * r + MARK_GAP
    return Cell(row.condition, column.level, column.x, row.y, column.width, ROW_HEIGHT, tuple(marks))


def _legend(styles: list[StanceStyle], top: float) -> tuple[LegendEntry, ...]:
    """The legend's entries, in rows of four under the grid."""
    per_line = 4
    spacing = 190
    return tuple(
        LegendEntry(style, 16 + (index % per_line) * spacing, top + (index // per_line) * 24)
        for index, style in enumerate(styles)
    )

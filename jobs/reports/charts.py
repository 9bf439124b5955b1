"""Small charts as server-rendered SVG: no chart library, no script, text escaped like any template.

Each chart is a figure: the SVG (an image named by its title) and the same figures as a table, the text
alternative that a screen reader, a keyboard or a copy-and-paste can use (WCAG 1.1.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 600, 200, 44, 24, 12
# Each at least 4.5:1 on white: the legend writes the series' names in their colour.
COLOURS = ("#4f46e5", "#15803d", "#c2410c", "#b91c1c")


def _frame(title: str, top: float, labels: Sequence[str], body: SafeString, legend: SafeString) -> SafeString:
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (_x(i, len(labels)), HEIGHT - 6, label[5:])
            for i, label in enumerate(labels)
            if _show(i, len(labels))
        ),
    )
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" aria-label="{}"><title>{}</title>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ccd"/>'
        '<text x="4" y="{}">{}</text><text x="4" y="{}">0</text>{}{}{}</svg>',
        WIDTH, HEIGHT, title, title,
        PAD_LEFT, HEIGHT - PAD_BOTTOM, WIDTH, HEIGHT - PAD_BOTTOM,
        PAD_TOP + 8, _number(top), HEIGHT - PAD_BOTTOM, ticks, body, legend,
    )  # fmt: skip


def _legend(index: int, colour: str, name: str) -> SafeString:
    return format_html(
        '<text x="{}" y="{}" fill="{}">{}</text>', WIDTH - 130, PAD_TOP + 14 * (index + 1), colour, name
    )


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _show(i: int, n: int) -> bool:
    step = max(1, n // 8)
    return i % step == 0 or i == n - 1


def _x(i: int, n: int) -> float:
    span = WIDTH - PAD_LEFT - 10
    return round(PAD_LEFT + (span * (i + 0.5) / max(n, 1)), 1)


def _y(value: float, top: float) -> float:
    return round(HEIGHT - PAD_BOTTOM - (HEIGHT - PAD_BOTTOM - PAD_TOP) * (value / top if top else 0), 1)


def _cell(value: float | None) -> str:
    return "–" if value is None else _number(value) if isinstance(value, float) else str(value)


def data_table(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | int | None]],
    label_name: str = "Day",
) -> SafeString:
    """The chart's figures, one row per label: folded under the chart, in the page for every reader."""
    head = format_html_join("", '<th scope="col">{}</th>', ((name,) for name in series))
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th>{}</tr>',
        (
            (label, format_html_join("", "<td>{}</td>", ((_cell(points[i]),) for points in series.values())))
            for i, label in enumerate(labels)
        ),
    )
    return format_html(
        '<details class="chart-data"><summary>{} (table)</summary>'
        '<div class="table-wrap" tabindex="0" role="region" aria-label="{} (table)">'
        '<table class="table"><caption class="visually-hidden">{}</caption>'
        '<thead><tr><th scope="col">{}</th>{}</tr></thead><tbody>{}</tbody></table></div></details>',
        title, title, title, label_name, head, rows,
    )  # fmt: skip


def figure(chart: SafeString, table: SafeString) -> SafeString:
    return format_html('<figure class="chart-figure">{}{}</figure>', chart, table)


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> SafeString:
    """One polyline per series (None leaves a gap), with a dot per point, and its table."""
    values = [v for points in series.values() for v in points if v is not None]
    top = max(values, default=0.0) * 1.1 or 1.0
    parts, legend = [], []
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        xy = [(_x(i, len(labels)), _y(v, top)) for i, v in enumerate(points) if v is not None]
        if len(xy) > 1:
            parts.append(
                format_html(
                    '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>',
                    colour,
                    " ".join(f"{x},{y}" for x, y in xy),
                )
            )
        parts.extend(format_html('<circle cx="{}" cy="{}" r="3" fill="{}"/>', x, y, colour) for x, y in xy)
        legend.append(_legend(index, colour, name))
    svg = _frame(title, top, labels, SafeString("".join(parts)), SafeString("".join(legend)))
    return figure(svg, data_table(title, labels, series))


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[int]]) -> SafeString:
    """Stacked bars per label, and its table."""
    totals = [sum(points[i] for points in series.values()) for i in range(len(labels))]
    top = max(totals, default=0) * 1.1 or 1.0
    width = max(2.0, (WIDTH - PAD_LEFT - 10) / max(len(labels), 1) * 0.7)
    parts, legend = [], []
    base = [0.0] * len(labels)
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        for i, value in enumerate(points):
            if value:
                y_top, y_base = _y(base[i] + value, top), _y(base[i], top)
                parts.append(
                    format_html(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                        "<title>{}: {} {}</title></rect>",
                        round(_x(i, len(labels)) - width / 2, 1),
                        y_top,
                        round(width, 1),
                        round(y_base - y_top, 1),
                        colour,
                        labels[i],
                        value,
                        name,
                    )  # fmt: skip
                )
                base[i] += value
        legend.append(_legend(index, colour, name))
    svg = _frame(title, top, labels, SafeString("".join(parts)), SafeString("".join(legend)))
    return figure(svg, data_table(title, labels, series))

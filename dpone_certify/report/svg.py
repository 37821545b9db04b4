"""Small inline SVG charts for the certification report: no script, no font download, no external file."""

from __future__ import annotations

import html
from collections.abc import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.0%}"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2g}"


def line_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    percent: bool = False,
    width: int = 520,
    height: int = 200,
) -> str:
    """A line chart over runs (x: run index, oldest left). `None` values are gaps; every point has a title
    with its run and value, so the numbers are readable on hover and in the page's text."""
    left, right, top, bottom = 48, 10, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p for ps in series.values() for p in ps if p is not None]
    lo = 0.0
    hi = 1.0 if percent else (max(values) if values else 1.0)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v - lo) / (hi - lo)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="chart"><title>{_e(title)}</title>',
        f'<text x="{left}" y="14" class="ct">{_e(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="ax"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="ax"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        tick = lo + (hi - lo) * frac
        label = _fmt(tick, percent)
        out.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" class="tk" text-anchor="end">{label}</text>')
        out.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" class="gr"/>')
    if labels:
        out.append(f'<text x="{left}" y="{height - 8}" class="tk">{_e(labels[0])}</text>')
        if len(labels) > 1:
            out.append(
                f'<text x="{left + plot_w}" y="{height - 8}" class="tk" text-anchor="end">{_e(labels[-1])}</text>'
            )
    for idx, (name, vs) in enumerate(series.items()):
        color = PALETTE[idx % len(PALETTE)]
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(vs):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x(i):.1f},{y(v):.1f}")
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) > 1:
                out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
        for i, v in enumerate(vs):
            if v is not None:
                label = labels[i] if i < len(labels) else str(i)
                out.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"><title>{_e(name)} @ {_e(label)}: '
                    f"{_e(_fmt(v, percent))}</title></circle>"
                )
    out.append("</svg>")
    legend = "".join(
        f'<span class="lg"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(name)}</span>'
        for i, name in enumerate(series)
    )
    return f'<figure class="fig">{"".join(out)}<figcaption>{legend}</figcaption></figure>'

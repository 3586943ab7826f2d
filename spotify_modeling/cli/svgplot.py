"""A small SVG plotting kit: round ticks, linear axes, points with intervals, lines, bands, bars and a legend.

Each plot is one `<svg>` element as a string (vector, text selectable, a hover title on every point), drawn in a few
milliseconds with the standard library alone (why not matplotlib: `cli/report.py`). `drawn_at` sets the width the
plots made inside it are drawn at: the report draws each one twice, for wide screens and for phones. The kit knows
nothing of the report's data; `cli/report_plots.py` draws the report's plots with it.
"""

from __future__ import annotations

import html
import math
from contextlib import contextmanager
from typing import Callable, Sequence

INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif'


def esc(text) -> str:
    """Text (or a number) as HTML or SVG text and attribute values."""
    return html.escape(str(text), quote=True)


def num(v: float) -> str:
    """A coordinate, short."""
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.0f}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    first = math.floor(lo / step + 1e-9) * step
    ticks, v = [], first
    while v < hi + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def text_width(text: str, size: float = 12) -> float:
    return 0.6 * size * len(text)


#: Every plot is drawn twice, at two widths of its viewBox: `WIDE` for screens wider than `NARROW_SCREEN` px (it
#: scales with the page, never below 600 px), and `NARROW` for phones, where the page shows that one instead (CSS
#: media query) at about 1:1, so that its 11-12 px text stays 11-12 px rather than shrinking to 5.
WIDE, NARROW, NARROW_SCREEN = 760, 360, 700
_drawing = {"width": WIDE}


@contextmanager
def drawn_at(width: int):
    """Plots made inside are `width` wide (in viewBox units) unless they say otherwise."""
    before = _drawing["width"]
    _drawing["width"] = width
    try:
        yield
    finally:
        _drawing["width"] = before


def is_narrow() -> bool:
    return _drawing["width"] < WIDE


class Plot:
    """One chart: linear axes in data units, drawn as SVG primitives; `svg()` returns the element."""

    def __init__(self, width: int | None = None, height: int = 280, left: int = 56, right: int = 20, top: int = 36,
                 bottom: int = 48):
        width = min(width or _drawing["width"], _drawing["width"])
        self.w, self.h = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.pw, self.ph = width - left - right, height - top - bottom
        self.xlo, self.xhi, self.ylo, self.yhi = 0.0, 1.0, 0.0, 1.0
        self.parts: list[str] = []
        self.legend: list[tuple[str, str, str]] = []   # (label, colour, kind: dot | line | dash | box)

    def domain(self, x: tuple[float, float], y: tuple[float, float]) -> "Plot":
        self.xlo, self.xhi = x
        self.ylo, self.yhi = y
        if self.xhi <= self.xlo:
            self.xhi = self.xlo + 1
        if self.yhi <= self.ylo:
            self.yhi = self.ylo + 1
        return self

    def every(self, n: int) -> int:
        """Label every k-th of `n` ticks along the x axis, so that labels stay about 42 px apart."""
        return label_every(n, max(3, int(self.pw // 42)))

    def X(self, v: float) -> float:
        return self.left + (v - self.xlo) / (self.xhi - self.xlo) * self.pw

    def Y(self, v: float) -> float:
        return self.top + self.ph - (v - self.ylo) / (self.yhi - self.ylo) * self.ph

    # axes
    def y_axis(self, ticks: Sequence[float], fmt: Callable[[float], str] = lambda v: f"{v:g}",
               label: str | None = None) -> None:
        for t in ticks:
            y = self.Y(t)
            self.parts.append(f'<line x1="{num(self.left)}" x2="{num(self.left + self.pw)}" y1="{num(y)}" y2="{num(y)}" '
                              f'stroke="{GRID}" stroke-width="1"/>')
            self.parts.append(self._text(self.left - 8, y + 4, fmt(t), anchor="end", colour=MUTED))
        if label:
            x, y = 14, self.top + self.ph / 2
            self.parts.append(f'<text x="{num(x)}" y="{num(y)}" transform="rotate(-90 {num(x)} {num(y)})" '
                              f'text-anchor="middle" font-size="12" fill="{MUTED}">{esc(label)}</text>')

    def x_axis(self, ticks: Sequence[tuple[float, str]], label: str | None = None) -> None:
        base = self.top + self.ph
        self.parts.append(f'<line x1="{num(self.left)}" x2="{num(self.left + self.pw)}" y1="{num(base)}" '
                          f'y2="{num(base)}" stroke="#9ca3af" stroke-width="1"/>')
        for value, text in ticks:
            x = self.X(value)
            self.parts.append(f'<line x1="{num(x)}" x2="{num(x)}" y1="{num(base)}" y2="{num(base + 4)}" '
                              f'stroke="#9ca3af"/>')
            lines = text.split("\n")
            spans = "".join(f'<tspan x="{num(x)}" dy="{0 if i == 0 else 13}"'
                            + (f' fill="{MUTED}" font-size="10.5"' if i else "") + f'>{esc(s)}</tspan>'
                            for i, s in enumerate(lines))
            self.parts.append(f'<text x="{num(x)}" y="{num(base + 17)}" text-anchor="middle" font-size="12" '
                              f'fill="{INK}">{spans}</text>')
        if label:
            self.parts.append(self._text(self.left + self.pw, self.h - 4, label, anchor="end", colour=MUTED,
                                         size=11.5))

    # primitives (data coordinates)
    def line(self, xs: Sequence[float], ys: Sequence[float | None], colour: str, width: float = 2.0,
             dash: str | None = None, title: str | None = None) -> None:
        segment: list[str] = []
        segments = []
        for x, y in zip(xs, ys):
            if y is None or (isinstance(y, float) and math.isnan(y)):
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{num(self.X(x))},{num(self.Y(y))}")
        if segment:
            segments.append(segment)
        for seg in segments:
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            tip = f"<title>{esc(title)}</title>" if title else ""
            self.parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" '
                              f'stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"{extra}>'
                              f'{tip}</polyline>')

    def band(self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], colour: str,
             opacity: float = 0.18) -> None:
        if not xs:
            return
        top = [f"{num(self.X(x))},{num(self.Y(h))}" for x, h in zip(xs, hi)]
        bottom = [f"{num(self.X(x))},{num(self.Y(v))}" for x, v in zip(reversed(xs), reversed(lo))]
        self.parts.append(f'<polygon points="{" ".join(top + bottom)}" fill="{colour}" fill-opacity="{opacity}" '
                          'stroke="none"/>')

    def dot(self, x: float, y: float, colour: str, r: float = 4.5, title: str | None = None,
            hollow: bool = False) -> None:
        fill = "#ffffff" if hollow else colour
        tip = f"<title>{esc(title)}</title>" if title else ""
        self.parts.append(f'<circle cx="{num(self.X(x))}" cy="{num(self.Y(y))}" r="{r}" fill="{fill}" '
                          f'stroke="{colour}" stroke-width="1.6">{tip}</circle>')

    def herrorbar(self, y: float, lo: float, hi: float, colour: str, cap: float = 4.0, opacity: float = 0.75) -> None:
        py, x1, x2 = self.Y(y), self.X(lo), self.X(hi)
        self.parts.append(f'<path d="M{num(x1)},{num(py)}H{num(x2)}M{num(x1)},{num(py - cap)}V{num(py + cap)}'
                          f'M{num(x2)},{num(py - cap)}V{num(py + cap)}" stroke="{colour}" stroke-width="1.4" '
                          f'fill="none" stroke-opacity="{opacity}"/>')

    def errorbar(self, x: float, lo: float, hi: float, colour: str, cap: float = 4.0, opacity: float = 0.75) -> None:
        px, y1, y2 = self.X(x), self.Y(lo), self.Y(hi)
        self.parts.append(f'<path d="M{num(px)},{num(y1)}V{num(y2)}M{num(px - cap)},{num(y1)}H{num(px + cap)}'
                          f'M{num(px - cap)},{num(y2)}H{num(px + cap)}" stroke="{colour}" stroke-width="1.4" '
                          f'fill="none" stroke-opacity="{opacity}"/>')

    def rect(self, x0: float, x1: float, y0: float, y1: float, colour: str, title: str | None = None,
             opacity: float = 1.0) -> None:
        px0, px1 = sorted((self.X(x0), self.X(x1)))
        py0, py1 = sorted((self.Y(y0), self.Y(y1)))
        tip = f"<title>{esc(title)}</title>" if title else ""
        op = f' fill-opacity="{opacity}"' if opacity < 1 else ""
        self.parts.append(f'<rect x="{num(px0)}" y="{num(py0)}" width="{num(max(px1 - px0, 0.5))}" '
                          f'height="{num(max(py1 - py0, 0))}" fill="{colour}"{op}>{tip}</rect>')

    def hline(self, y: float, colour: str, dash: str = "6 4", width: float = 1.6, label: str | None = None) -> None:
        py = self.Y(y)
        self.parts.append(f'<line x1="{num(self.left)}" x2="{num(self.left + self.pw)}" y1="{num(py)}" y2="{num(py)}" '
                          f'stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/>')
        if label:
            self.parts.append(self._text(self.left + self.pw - 4, py - 5, label, anchor="end", colour=colour,
                                         size=11.5, halo=True))

    def vline(self, x: float, colour: str, dash: str = "6 4", label: str | None = None) -> None:
        px = self.X(x)
        self.parts.append(f'<line x1="{num(px)}" x2="{num(px)}" y1="{num(self.top)}" y2="{num(self.top + self.ph)}" '
                          f'stroke="{colour}" stroke-width="1.8" stroke-dasharray="{dash}"/>')
        if label:
            self.parts.append(self._text(px - 5, self.top + 12, label, anchor="end", colour=colour, size=11.5,
                                         halo=True))

    def note(self, x: float, y: float, text: str, colour: str = MUTED, anchor: str = "start",
             size: float = 11.5) -> None:
        """Text at pixel position (x, y)."""
        self.parts.append(self._text(x, y, text, anchor=anchor, colour=colour, size=size))

    @staticmethod
    def _text(x: float, y: float, text: str, anchor: str = "start", colour: str = INK, size: float = 12,
              weight: str | None = None, halo: bool = False) -> str:
        extra = f' font-weight="{weight}"' if weight else ""
        if halo:
            extra += ' paint-order="stroke" stroke="#ffffff" stroke-width="3" stroke-linejoin="round"'
        return (f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}" font-size="{size}" fill="{colour}"{extra}>'
                f'{esc(text)}</text>')

    def _legend(self) -> tuple[str, int]:
        """The legend along the top, wrapped to the width; returns (svg, extra rows beyond the first)."""
        out, x, y, rows = [], float(self.left), 16.0, 0
        for label, colour, kind in self.legend:
            width = 21 + text_width(label) + 18
            if x + width > self.w - 10 and x > self.left:
                x, y, rows = float(self.left), y + 18, rows + 1
            if kind == "dot":
                out.append(f'<circle cx="{num(x + 6)}" cy="{num(y - 4)}" r="4.5" fill="{colour}"/>')
            elif kind == "box":
                out.append(f'<rect x="{num(x)}" y="{num(y - 10)}" width="12" height="12" rx="2" fill="{colour}"/>')
            elif kind in ("band", "dashband"):   # an interval drawn as a band (with a dashed line at its share)
                out.append(f'<rect x="{num(x)}" y="{num(y - 10)}" width="16" height="12" fill="{colour}" '
                           'fill-opacity="0.25"/>')
                if kind == "dashband":
                    out.append(f'<line x1="{num(x)}" x2="{num(x + 16)}" y1="{num(y - 4)}" y2="{num(y - 4)}" '
                               f'stroke="{colour}" stroke-width="1.8" stroke-dasharray="5 3"/>')
            else:
                dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
                stroke = 3 if kind == "line" else 1.8
                out.append(f'<line x1="{num(x)}" x2="{num(x + 16)}" y1="{num(y - 4)}" y2="{num(y - 4)}" '
                           f'stroke="{colour}" stroke-width="{stroke}"{dash}/>')
            out.append(self._text(x + 21, y, label, size=12))
            x += width
        return "".join(out), rows

    def svg(self, label: str) -> str:
        legend, rows = self._legend()
        shift = 18 * rows
        body = "".join(self.parts)
        if shift:
            body = f'<g transform="translate(0 {shift})">{body}</g>'
        return (f'<svg viewBox="0 0 {self.w} {self.h + shift}" width="100%" role="img" aria-label="{esc(label)}" '
                f'font-family=\'{FONT}\' preserveAspectRatio="xMidYMid meet">' + legend + body + "</svg>")


def label_every(n: int, most: int = 14) -> int:
    """Label every k-th tick so at most `most` labels show."""
    return max(1, math.ceil(n / most))

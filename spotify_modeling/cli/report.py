"""`spotify-model report`: one self-contained HTML page that shows, week after week, how well the loop works for you.

The page is written to `data/report/report.html` (whole or not at all, readable by you alone) and needs nothing but a
browser to view: every plot is inline SVG drawn here, with no script, no stylesheet or font from elsewhere, and no
network at all when it is built or viewed. Each plot is drawn twice, for wide screens and for phones (`drawn_at`), and
a CSS media query shows the one that fits, so that plot text stays legible at 400 px. `candidates` and `demo` end by writing it (`report_after_run`).

Why hand-drawn SVG and not matplotlib: the plots are points with intervals, lines, bars and one histogram, which a
few hundred lines draw as crisply as matplotlib does (vector, sharp at any zoom, text selectable, hover titles on
every point) in a few milliseconds instead of matplotlib's second of import and rendering, and without adding a
~40 MB dependency (matplotlib, Pillow, fonttools, kiwisolver, ...) to a tool that runs weekly from cron.
"""

from __future__ import annotations

import html
import math
import re
import textwrap
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional, Sequence

import typer
from rich.markup import escape

from spotify_modeling.cli.app import app, console, err_console
from spotify_modeling.cli.status import (CONTROL_LABELS_NEEDED, SLICES, collect_status, control_baseline,
                                         hit_rate_table, open_store, setup_steps, short_date, trend_sentence)
from spotify_modeling.home import Home

REPORT_NAME = "report.html"

# ------------------------------------------------------------------------------------------------ what is shown
#: figure id -> (title, the one sentence under it: what it shows and how to read it)
FIGURES: dict[str, tuple[str, str]] = {
    "fig-hit-rate": (
        "Hit rate per batch, by slice",
        "Each dot is the share of a batch's labelled candidates you liked, per slice, with its 95% Wilson interval "
        "as a bar; the dark line is the running share of all candidates you liked so far, and the grey band the 95% "
        "interval of the random baseline (every control track so far), with a dashed line at its share once about "
        f"{CONTROL_LABELS_NEEDED} control tracks are labelled (before that it is too uncertain to be a line to "
        "beat): the further the blue dots and the dark line sit above the band, the better the ranking works for "
        "you."),
    "fig-labels": (
        "Your labels over the runs",
        "The total of likes, dislikes and expired candidates (left unlabelled for weeks) as each weekly run read "
        "them: steady growth of the first two means the loop is learning from you, a growing grey line means "
        "batches go unheard."),
    "fig-auc": (
        "Stage 2: how well your labels are learnt",
        "ROC AUC of the label model per run, cross-validated by artist (blue) and forward-chained (orange: each "
        "labelled batch scored by a model fit on the batches before it), beside the prior composite's forward "
        "AUC on the very same labels (grey), each with its 95% interval: 0.5 (dashed) is chance. Where orange "
        "clears grey, stage 2 earns weight in the ranking."),
    "fig-sources": (
        "Where your candidates come from, and how each source does",
        "The share of the labelled candidates you liked, per source, with its 95% Wilson interval: random catalog "
        "searches (the baseline), your history's genres, the artists and genres of tracks you liked, and ReccoBeats "
        "tracks that sound like your likes. The weekly searches follow these rates: a source that brings likes gets "
        "more of them."),
    "fig-weights": (
        "The composite's weights per run",
        "How much each model counts in the ranking of each run (the bars add up to 1): stage 2 (orange) starts at "
        "nothing and should earn weight as your labels accumulate."),
    "fig-corrections": (
        "What your labels changed",
        "How far your labels moved the ranking away from what your history alone says, in the last run (offsets on "
        "the log-odds of a like): a bar to the right means more of that genre family, fine genre or newness than "
        "your history suggests, to the left less; each stays at 0 until enough of your labels speak to it."),
    "fig-importance": (
        "What each model looks at",
        "The features each saved model leans on most, as a share of its total split gain: a long bar is a feature "
        "the model uses a lot, not one that makes a track good or bad."),
    "fig-genres": (
        "Genre families: your history, likes, dislikes and candidates",
        "The mix of broad genre families in each group of tracks whose artists' genres are known (a track of two "
        "families counts half in each): candidates that look like your likes and your history, not like your "
        "dislikes, are what the ranking aims for."),
    "fig-pool": (
        "The latest pool and where the batch came from",
        "Bars count the pool's tracks by composite score (higher is more likely your taste), the dashed line is the "
        "cut the exploit slice was taken above, and the ticks under the bars mark each pushed track by slice: "
        "exploit at the top, explore among the plausible, control anywhere."),
    "fig-calls": (
        "Spotify calls per run",
        "Calls each weekly run spent, stacked by endpoint group, against the run's plan from your settings "
        "(dashed): bars under the line leave room in Spotify's daily quotas for `features` and a second try."),
}

#: colours (colour-blind-safe where they must be told apart)
SLICE_COLOURS = {"exploit": "#1f6fb2", "explore": "#e08a00", "control": "#6b7280"}
LABEL_COLOURS = {"likes": "#2e9e5b", "dislikes": "#d1495b", "expired": "#9ca3af"}
MODEL_COLOURS = {"affinity": "#1f6fb2", "playlist": "#5aa469", "likeability": "#9b6fc2", "label": "#e08a00"}
GROUP_COLOURS = {"search": "#1f6fb2", "tracks": "#5aa469", "artists": "#9b6fc2", "playlists": "#e08a00",
                 "me": "#9ca3af", "albums": "#17a2b8", "audio_features": "#8c564b", "token": "#bcbd22",
                 "other": "#d1495b"}
FAMILY_COLOURS = {"rock": "#4e79a7", "pop": "#f28e2b", "hip_hop": "#e15759", "electronic_dance": "#76b7b2",
                  "rnb_soul": "#59a14f", "jazz_blues": "#edc948", "classical": "#b07aa1", "folk_country": "#ff9da7",
                  "latin": "#9c755f", "metal_punk": "#555555", "reggae": "#8cd17d", "world": "#499894",
                  "other": "#c9c9c9"}
FAMILY_NAMES = {"hip_hop": "hip hop", "electronic_dance": "electronic/dance", "rnb_soul": "R&B/soul",
                "jazz_blues": "jazz/blues", "folk_country": "folk/country", "metal_punk": "metal/punk"}
INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif'


# ------------------------------------------------------------------------------------------------ SVG drawing
def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _prose(text: str) -> str:
    """A sentence as HTML: escaped, with `command` spans set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def _n(v: float) -> str:
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


def _text_width(text: str, size: float = 12) -> float:
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


def _narrow() -> bool:
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
        return _every(n, max(3, int(self.pw // 42)))

    def X(self, v: float) -> float:
        return self.left + (v - self.xlo) / (self.xhi - self.xlo) * self.pw

    def Y(self, v: float) -> float:
        return self.top + self.ph - (v - self.ylo) / (self.yhi - self.ylo) * self.ph

    # axes
    def y_axis(self, ticks: Sequence[float], fmt: Callable[[float], str] = lambda v: f"{v:g}",
               label: str | None = None) -> None:
        for t in ticks:
            y = self.Y(t)
            self.parts.append(f'<line x1="{_n(self.left)}" x2="{_n(self.left + self.pw)}" y1="{_n(y)}" y2="{_n(y)}" '
                              f'stroke="{GRID}" stroke-width="1"/>')
            self.parts.append(self._text(self.left - 8, y + 4, fmt(t), anchor="end", colour=MUTED))
        if label:
            x, y = 14, self.top + self.ph / 2
            self.parts.append(f'<text x="{_n(x)}" y="{_n(y)}" transform="rotate(-90 {_n(x)} {_n(y)})" '
                              f'text-anchor="middle" font-size="12" fill="{MUTED}">{_e(label)}</text>')

    def x_axis(self, ticks: Sequence[tuple[float, str]], label: str | None = None) -> None:
        base = self.top + self.ph
        self.parts.append(f'<line x1="{_n(self.left)}" x2="{_n(self.left + self.pw)}" y1="{_n(base)}" '
                          f'y2="{_n(base)}" stroke="#9ca3af" stroke-width="1"/>')
        for value, text in ticks:
            x = self.X(value)
            self.parts.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(base)}" y2="{_n(base + 4)}" '
                              f'stroke="#9ca3af"/>')
            lines = text.split("\n")
            spans = "".join(f'<tspan x="{_n(x)}" dy="{0 if i == 0 else 13}"'
                            + (f' fill="{MUTED}" font-size="10.5"' if i else "") + f'>{_e(s)}</tspan>'
                            for i, s in enumerate(lines))
            self.parts.append(f'<text x="{_n(x)}" y="{_n(base + 17)}" text-anchor="middle" font-size="12" '
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
            segment.append(f"{_n(self.X(x))},{_n(self.Y(y))}")
        if segment:
            segments.append(segment)
        for seg in segments:
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            tip = f"<title>{_e(title)}</title>" if title else ""
            self.parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" '
                              f'stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"{extra}>'
                              f'{tip}</polyline>')

    def band(self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], colour: str,
             opacity: float = 0.18) -> None:
        if not xs:
            return
        top = [f"{_n(self.X(x))},{_n(self.Y(h))}" for x, h in zip(xs, hi)]
        bottom = [f"{_n(self.X(x))},{_n(self.Y(v))}" for x, v in zip(reversed(xs), reversed(lo))]
        self.parts.append(f'<polygon points="{" ".join(top + bottom)}" fill="{colour}" fill-opacity="{opacity}" '
                          'stroke="none"/>')

    def dot(self, x: float, y: float, colour: str, r: float = 4.5, title: str | None = None,
            hollow: bool = False) -> None:
        fill = "#ffffff" if hollow else colour
        tip = f"<title>{_e(title)}</title>" if title else ""
        self.parts.append(f'<circle cx="{_n(self.X(x))}" cy="{_n(self.Y(y))}" r="{r}" fill="{fill}" '
                          f'stroke="{colour}" stroke-width="1.6">{tip}</circle>')

    def herrorbar(self, y: float, lo: float, hi: float, colour: str, cap: float = 4.0, opacity: float = 0.75) -> None:
        py, x1, x2 = self.Y(y), self.X(lo), self.X(hi)
        self.parts.append(f'<path d="M{_n(x1)},{_n(py)}H{_n(x2)}M{_n(x1)},{_n(py - cap)}V{_n(py + cap)}'
                          f'M{_n(x2)},{_n(py - cap)}V{_n(py + cap)}" stroke="{colour}" stroke-width="1.4" '
                          f'fill="none" stroke-opacity="{opacity}"/>')

    def errorbar(self, x: float, lo: float, hi: float, colour: str, cap: float = 4.0, opacity: float = 0.75) -> None:
        px, y1, y2 = self.X(x), self.Y(lo), self.Y(hi)
        self.parts.append(f'<path d="M{_n(px)},{_n(y1)}V{_n(y2)}M{_n(px - cap)},{_n(y1)}H{_n(px + cap)}'
                          f'M{_n(px - cap)},{_n(y2)}H{_n(px + cap)}" stroke="{colour}" stroke-width="1.4" '
                          f'fill="none" stroke-opacity="{opacity}"/>')

    def rect(self, x0: float, x1: float, y0: float, y1: float, colour: str, title: str | None = None,
             opacity: float = 1.0) -> None:
        px0, px1 = sorted((self.X(x0), self.X(x1)))
        py0, py1 = sorted((self.Y(y0), self.Y(y1)))
        tip = f"<title>{_e(title)}</title>" if title else ""
        op = f' fill-opacity="{opacity}"' if opacity < 1 else ""
        self.parts.append(f'<rect x="{_n(px0)}" y="{_n(py0)}" width="{_n(max(px1 - px0, 0.5))}" '
                          f'height="{_n(max(py1 - py0, 0))}" fill="{colour}"{op}>{tip}</rect>')

    def hline(self, y: float, colour: str, dash: str = "6 4", width: float = 1.6, label: str | None = None) -> None:
        py = self.Y(y)
        self.parts.append(f'<line x1="{_n(self.left)}" x2="{_n(self.left + self.pw)}" y1="{_n(py)}" y2="{_n(py)}" '
                          f'stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/>')
        if label:
            self.parts.append(self._text(self.left + self.pw - 4, py - 5, label, anchor="end", colour=colour,
                                         size=11.5, halo=True))

    def vline(self, x: float, colour: str, dash: str = "6 4", label: str | None = None) -> None:
        px = self.X(x)
        self.parts.append(f'<line x1="{_n(px)}" x2="{_n(px)}" y1="{_n(self.top)}" y2="{_n(self.top + self.ph)}" '
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
        return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" fill="{colour}"{extra}>'
                f'{_e(text)}</text>')

    def _legend(self) -> tuple[str, int]:
        """The legend along the top, wrapped to the width; returns (svg, extra rows beyond the first)."""
        out, x, y, rows = [], float(self.left), 16.0, 0
        for label, colour, kind in self.legend:
            width = 21 + _text_width(label) + 18
            if x + width > self.w - 10 and x > self.left:
                x, y, rows = float(self.left), y + 18, rows + 1
            if kind == "dot":
                out.append(f'<circle cx="{_n(x + 6)}" cy="{_n(y - 4)}" r="4.5" fill="{colour}"/>')
            elif kind == "box":
                out.append(f'<rect x="{_n(x)}" y="{_n(y - 10)}" width="12" height="12" rx="2" fill="{colour}"/>')
            elif kind in ("band", "dashband"):   # an interval drawn as a band (with a dashed line at its share)
                out.append(f'<rect x="{_n(x)}" y="{_n(y - 10)}" width="16" height="12" fill="{colour}" '
                           'fill-opacity="0.25"/>')
                if kind == "dashband":
                    out.append(f'<line x1="{_n(x)}" x2="{_n(x + 16)}" y1="{_n(y - 4)}" y2="{_n(y - 4)}" '
                               f'stroke="{colour}" stroke-width="1.8" stroke-dasharray="5 3"/>')
            else:
                dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
                stroke = 3 if kind == "line" else 1.8
                out.append(f'<line x1="{_n(x)}" x2="{_n(x + 16)}" y1="{_n(y - 4)}" y2="{_n(y - 4)}" '
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
        return (f'<svg viewBox="0 0 {self.w} {self.h + shift}" width="100%" role="img" aria-label="{_e(label)}" '
                f'font-family=\'{FONT}\' preserveAspectRatio="xMidYMid meet">' + legend + body + "</svg>")


def _pct(v, digits: int = 0) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}%"


def _every(n: int, most: int = 14) -> int:
    """Label every k-th tick so at most `most` labels show."""
    return max(1, math.ceil(n / most))


# ------------------------------------------------------------------------------------------------ the plots
# Each returns (svg, None) or (None, the sentence shown instead).
def plot_hit_rate(data: dict) -> tuple[str | None, str | None]:
    rows = data["rates"]
    batches = data["batches"]
    if not batches:
        return None, "No weekly run has pushed a batch yet: run `spotify-model candidates` and your first batch appears here."
    labelled = {b for (b, s), r in rows.items() if s == "all" and r["labelled"]}
    if not labelled:
        return None, ("No labels yet: in Spotify, drag each track of data_candidates into data_1 (like) or data_0 "
                      "(dislike); the next `candidates` run reads them and this plot starts.")
    p = Plot(height=300)
    p.domain((0.4, len(batches) + 0.6), (0, 1))
    p.y_axis([0, 0.25, 0.5, 0.75, 1.0], lambda v: f"{v:.0%}", "share liked")
    k = p.every(len(batches))
    p.x_axis([(i + 1, f"{b}\n{short_date(data['batch_dates'].get(b))}" if i % k == 0 else "")
              for i, b in enumerate(batches)], "batch (day pushed)")
    base = rows.get(("all", "control"))
    if base and base["labelled"]:
        # the baseline is its 95% interval, a band; a dashed line at its share only once that is narrow enough
        n, enough = base["labelled"], base["labelled"] >= CONTROL_LABELS_NEEDED
        tip = (f"random control: {base['liked']} of {n} liked (95% CI {_pct(base['ci_low'])}–{_pct(base['ci_high'])})"
               + ("" if enough else f": too few to compare with yet; about {CONTROL_LABELS_NEEDED} needed"))
        p.rect(p.xlo, p.xhi, base["ci_low"], base["ci_high"], MUTED, title=tip, opacity=0.12)
        for edge in (base["ci_low"], base["ci_high"]):   # dotted edges: told apart from the running share's band
            p.line([p.xlo, p.xhi], [edge, edge], MUTED, 1, dash="1 3")
        if enough:
            p.hline(base["hit_rate"], MUTED)
            p.legend.append((f"random baseline {_pct(base['hit_rate'])} ({base['liked']} of {n})", MUTED, "dashband"))
        else:
            p.legend.append((f"random control: {n} labelled, {CONTROL_LABELS_NEEDED} needed", MUTED, "band"))
    # the running share liked, over all slices, with its interval
    from spotify_modeling.core.metrics import wilson_interval

    xs, ys, lo, hi = [], [], [], []
    k_sum = n_sum = 0
    for i, b in enumerate(batches):
        r = rows.get((b, "all"))
        if not r or not r["labelled"]:
            continue   # a batch still waiting for labels adds nothing to the running share
        k_sum += r["liked"]
        n_sum += r["labelled"]
        if n_sum:
            _, a, z = wilson_interval(k_sum, n_sum)
            xs.append(i + 1)
            ys.append(k_sum / n_sum)
            lo.append(a)
            hi.append(z)
    p.band(xs, lo, hi, INK, 0.07)
    p.line(xs, ys, INK, 3, title="running share of all candidates liked")
    for x, y, a, z in zip(xs, ys, lo, hi):
        p.dot(x, y, INK, r=3, title=f"after batch {batches[x - 1]}: {y:.0%} of all candidates so far liked "
                                    f"(95% CI {a:.0%}–{z:.0%})")
    p.legend.append(("running share liked", INK, "line"))
    for i, b in enumerate(batches):
        if b not in labelled:
            p.note(p.X(i + 1), p.Y(0.16), "waiting for", MUTED, anchor="middle", size=11)
            p.note(p.X(i + 1), p.Y(0.16) + 13, "your labels", MUTED, anchor="middle", size=11)
    offsets = {"exploit": -0.2, "explore": 0.11, "control": 0.23}   # the running share sits at the centre
    for s in SLICES:
        shown = False
        for i, b in enumerate(batches):
            r = rows.get((b, s))
            if not r or not r["labelled"]:
                continue
            x = i + 1 + offsets[s]
            p.errorbar(x, r["ci_low"], r["ci_high"], SLICE_COLOURS[s], opacity=0.75 if s == "exploit" else 0.45)
            p.dot(x, r["hit_rate"], SLICE_COLOURS[s], title=(
                f"batch {b}, {s}: {r['liked']} of {r['labelled']} liked ({_pct(r['hit_rate'])}; "
                f"95% CI {_pct(r['ci_low'])}–{_pct(r['ci_high'])}); {r['pushed']} pushed"))
            shown = True
        if shown:
            p.legend.append((s, SLICE_COLOURS[s], "dot"))
    p.legend.sort(key=lambda item: item[2] in ("band", "dashband"))   # the baseline last
    return p.svg("hit rate per batch by slice"), None


def plot_labels(data: dict) -> tuple[str | None, str | None]:
    runs = [r for r in data["runs"] if r["summary"].get("labels")]
    totals = []
    expired = 0
    for r in runs:
        s = r["summary"]
        expired += int(s.get("expired") or 0)
        totals.append((r, int(s["labels"].get("total_likes") or 0), int(s["labels"].get("total_dislikes") or 0),
                       expired))
    if not totals or not any(t[1] or t[2] or t[3] for t in totals):
        return None, ("No labels yet: the totals of your likes, dislikes and expired candidates appear here once a "
                      "`candidates` run has read data_1 and data_0.")
    p = Plot(height=260, right=84)
    top = max(max(t[1], t[2], t[3]) for t in totals)
    ticks = nice_ticks(0, top * 1.08, 5)
    p.domain((0.6, len(totals) + 0.4), (0, ticks[-1]))
    p.y_axis(ticks, lambda v: f"{v:g}", "labels")
    k = p.every(len(totals))
    p.x_axis([(i + 1, f"run {t[0]['run_id']}\n{short_date(t[0]['started_at'])}" if i % k == 0 else "")
              for i, t in enumerate(totals)])
    xs = list(range(1, len(totals) + 1))
    ends = []
    for idx, name in ((2, "dislikes"), (3, "expired"), (1, "likes")):   # likes drawn last: on top
        ys = [t[idx] for t in totals]
        p.line(xs, ys, LABEL_COLOURS[name], 2.5)
        for x, y, t in zip(xs, ys, totals):
            p.dot(x, y, LABEL_COLOURS[name], r=3.5, title=f"run {t[0]['run_id']}: {y} {name}")
        ends.append((p.Y(ys[-1]) + 4, f"{ys[-1]} {name}", LABEL_COLOURS[name]))
    placed: list[float] = []
    for y, text, colour in sorted(ends):          # top to bottom, at least 13 px apart
        y = max([y] + [q + 13 for q in placed])
        placed.append(y)
        p.note(p.X(xs[-1]) + 8, y, text, colour)
    for name in ("likes", "dislikes", "expired"):
        p.legend.append((name, LABEL_COLOURS[name], "line"))
    return p.svg("cumulative labels"), None


def plot_auc(data: dict) -> tuple[str | None, str | None]:
    runs = data["runs"]
    fitted = [r for r in runs if (r["summary"].get("stage2") or {}).get("fitted")]
    if not fitted:
        s2 = (runs[-1]["summary"].get("stage2") or {}) if runs else {}
        have = f" (the last run had {s2.get('likes', 0)} and {s2.get('dislikes', 0)})" if s2 else ""
        need = data["min_labels"]
        return None, (f"Stage 2 is not fitted yet: it needs {need} likes and {need} dislikes with audio features"
                      f"{have}; until then the ranking rests on stage 1 alone.")
    p = Plot(height=270)
    p.domain((0.4, len(runs) + 0.6), (0, 1))
    p.y_axis([0, 0.25, 0.5, 0.75, 1.0], lambda v: f"{v:.2f}", "ROC AUC")
    k = p.every(len(runs))
    p.x_axis([(i + 1, f"run {r['run_id']}\n{short_date(r['started_at'])}" if i % k == 0 else "")
              for i, r in enumerate(runs)])
    p.hline(0.5, "#9ca3af", label="chance")
    series = (("cv", "cross-validated (by artist)", SLICE_COLOURS["exploit"], -0.18),
              ("forward", "stage 2, forward-chained", SLICE_COLOURS["explore"], 0.0),
              ("prior", "prior composite, same labels", MUTED, 0.18))
    fields = {"cv": ("cv_auc", "cv_low", "cv_high"), "forward": ("forward_auc", "forward_low", "forward_high"),
              "prior": ("prior_forward_auc", "prior_forward_low", "prior_forward_high")}
    for key, name, colour, off in series:
        value, low, high = fields[key]
        shown = False
        for i, r in enumerate(runs):
            s2 = r["summary"].get("stage2") or {}
            v = s2.get(value)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            lo, hi = s2.get(low), s2.get(high)
            if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
                p.errorbar(i + 1 + off, lo, hi, colour)
            extra = f" on {s2.get('forward_n')} labels" if key != "cv" else ""
            p.dot(i + 1 + off, v, colour, title=f"run {r['run_id']}: {name} {v:.2f}{extra} "
                                                f"({s2.get('likes')} likes, {s2.get('dislikes')} dislikes)")
            shown = True
        if shown:
            p.legend.append((name, colour, "dot"))
    return p.svg("stage-2 AUC per run"), None


def plot_sources(data: dict) -> tuple[str | None, str | None]:
    by = data["status"]["hit_rate"].get("by_source") or []
    if not by:
        return None, "No labelled candidate yet: the hit rate of each source shows once you label some."
    left = 150 if _narrow() else 230
    chars = int((left - 14) / (0.6 * 12))
    p = Plot(height=28 + 46 * len(by) + 40, left=left, right=24, top=20, bottom=40)
    p.domain((0, 1), (0, len(by)))
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = p.X(t)
        p.parts.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(p.top)}" y2="{_n(p.top + p.ph)}" '
                       f'stroke="{GRID}" stroke-width="1"/>')
    p.x_axis([(t, f"{t:.0%}") for t in (0, 0.25, 0.5, 0.75, 1.0)], "share liked")
    for i, x in enumerate(by):
        y = len(by) - i - 0.5
        colour = SLICE_COLOURS["control"] if x["source"] == "search" else SLICE_COLOURS["exploit"]
        p.herrorbar(y, x["low"], x["high"], colour)
        p.dot(x["hit_rate"], y, colour, title=f"{x['name']}: {x['hit_rate']:.0%} liked ({x['liked']} of "
                                              f"{x['labelled']}; 95% CI {x['low']:.0%}-{x['high']:.0%})")
        lines = textwrap.wrap(x["name"], chars)[:2]
        top = p.Y(y) + 4 - 7 * len(lines)
        for j, line in enumerate(lines):
            p.note(left - 10, top + 14 * j, line, INK, anchor="end", size=12)
        p.note(left - 10, top + 14 * len(lines), f"{x['liked']} of {x['labelled']} liked", MUTED, anchor="end",
               size=10.5)
    return p.svg("hit rate by pool source"), None


def plot_weights(data: dict) -> tuple[str | None, str | None]:
    runs = [r for r in data["runs"] if r["summary"].get("weights")]
    if not runs:
        return None, "No weekly run has scored a pool yet: the composite's weights appear here after the first one."
    p = Plot(height=240)
    p.domain((0.4, len(runs) + 0.6), (0, 1))
    p.y_axis([0, 0.25, 0.5, 0.75, 1.0], lambda v: f"{v:g}", "weight")
    k = p.every(len(runs))
    p.x_axis([(i + 1, f"run {r['run_id']}\n{short_date(r['started_at'])}" if i % k == 0 else "")
              for i, r in enumerate(runs)])
    names = [n for n in MODEL_COLOURS if any(n in r["summary"]["weights"] for r in runs)]
    names += sorted({n for r in runs for n in r["summary"]["weights"]} - set(names))
    width = min(0.7, 56 / (p.X(1) - p.X(0)))
    for i, r in enumerate(runs):
        w = r["summary"]["weights"]
        total = sum(max(0.0, float(v)) for v in w.values()) or 1.0
        y = 0.0
        for n in names:
            v = max(0.0, float(w.get(n, 0.0))) / total
            if v <= 0:
                continue
            p.rect(i + 1 - width / 2, i + 1 + width / 2, y, y + v, MODEL_COLOURS.get(n, "#9ca3af"),
                   title=f"run {r['run_id']}: {n} {v:.2f}")
            y += v
    for n in names:
        p.legend.append(("stage 2 (label)" if n == "label" else n, MODEL_COLOURS.get(n, "#9ca3af"), "box"))
    return p.svg("composite weights per run"), None


def correction_label(name: str) -> str:
    if name.startswith("fam_"):
        return FAMILY_NAMES.get(name[4:], name[4:].replace("_", " "))
    if name == "newness":
        return "newer releases"
    return name.split(":", 1)[-1].replace("audio_", "").replace("_", " ")


def plot_corrections(data: dict, top: int = 10) -> tuple[str | None, str | None]:
    run = next((r for r in reversed(data["runs"]) if r["summary"].get("corrections")), None)
    if run is None:
        return None, ("No correction yet: the ranking follows your history alone until you have labelled about ten "
                      "candidates, likes and dislikes both.")
    items = sorted(run["summary"]["corrections"].items(), key=lambda kv: -abs(kv[1]))[:top]
    rows = len(items)
    reach = max(abs(v) for _, v in items) or 1.0
    narrow = _narrow()
    p = Plot(height=40 + 24 * rows, left=130 if narrow else 170, right=44 if narrow else 60, top=30, bottom=24)
    reach /= max(0.5, 1 - 84 / p.pw)          # room for a value ("-1.44") at the end of the longest bar
    p.domain((-reach, reach), (0, rows))
    p.vline(0, MUTED, dash="2 3")
    p.note(8, 18, f"run {run['run_id']} ({short_date(run['started_at'])})", MUTED, size=12)
    for i, (name, v) in enumerate(items):
        y1, y0 = rows - i - 0.2, rows - i - 0.8
        colour = LABEL_COLOURS["likes"] if v > 0 else LABEL_COLOURS["dislikes"]
        p.rect(min(0.0, v), max(0.0, v), y0, y1, colour, title=f"{correction_label(name)}: {v:+.2f}")
        label = correction_label(name)
        room = 17 if narrow else 26
        p.note(p.left - 6, p.Y((y0 + y1) / 2) + 4, label if len(label) <= room else label[:room - 1] + "…", INK,
               anchor="end", size=11.5)
        p.note(p.X(v) + (4 if v > 0 else -4), p.Y((y0 + y1) / 2) + 4, f"{v:+.2f}", MUTED,
               anchor="start" if v > 0 else "end", size=11)
    return p.svg("what your labels changed in the ranking"), None


def plot_importance(data: dict) -> tuple[str | None, str | None]:
    models = data["importances"]
    if not models:
        why = data.get("importance_note") or "no model is saved yet (`spotify-model features` trains stage 1)"
        return None, f"No feature importances to show: {why}."
    panels = []
    for name, items in models.items():
        rows = len(items)
        p = Plot(width=370, height=38 + 24 * rows, left=128, right=44, top=30, bottom=8)
        top = max(v for _, v in items) or 1.0
        p.domain((0, top * 1.02), (0, rows))
        p.note(8, 18, f"{name}", INK, size=13)
        for i, (feature, share) in enumerate(items):
            y1, y0 = rows - i - 0.18, rows - i - 0.82
            p.rect(0, share, y0, y1, MODEL_COLOURS.get(name, "#6b7280"), title=f"{feature}: {share:.0%} of the gain")
            label = feature if len(feature) <= 20 else feature[:19] + "…"
            p.note(p.left - 6, p.Y((y0 + y1) / 2) + 4, label, INK, anchor="end", size=11.5)
            p.note(p.X(share) + 4, p.Y((y0 + y1) / 2) + 4, f"{share:.0%}", MUTED, size=11)
        panels.append(p.svg(f"feature importances of the {name} model"))
    return '<div class="panels">' + "".join(f"<div>{s}</div>" for s in panels) + "</div>", None


def plot_genres(data: dict) -> tuple[str | None, str | None]:
    groups = data["families"]
    if not any(g["known"] for g in groups.values()):
        return None, ("No genres known yet: `spotify-model features` fetches your artists' genres "
                      "(or pass --genres-source musicbrainz).")
    order = sorted({f for g in groups.values() for f in g["shares"]},
                   key=lambda f: (-groups["history"]["shares"].get(f, 0.0), f == "other", f))
    if "other" in order:
        order = [f for f in order if f != "other"] + ["other"]
    rows = list(groups)
    narrow = _narrow()
    per_row = 2 if narrow else 5
    p = Plot(height=52 + 40 * len(rows) + 22 * math.ceil(len(order) / per_row), left=140 if narrow else 150,
             right=20, top=16, bottom=8)
    p.ph = 40 * len(rows)
    p.domain((0, 1), (0, len(rows)))
    for i, name in enumerate(rows):
        g = groups[name]
        y1, y0 = len(rows) - i - 0.15, len(rows) - i - 0.85
        mid = p.Y((y0 + y1) / 2) + 4
        p.note(p.left - 8, mid - 6, name, INK, anchor="end", size=12.5)
        p.note(p.left - 8, mid + 8, f"{g['known']:,} of {g['tracks']:,} tracks", MUTED, anchor="end", size=10.5)
        if not g["known"]:
            p.note(p.left + 6, mid, "no genres known yet", MUTED)
            continue
        x = 0.0
        for f in order:
            v = g["shares"].get(f, 0.0)
            if v <= 0:
                continue
            p.rect(x, x + v, y0, y1, FAMILY_COLOURS.get(f, "#c9c9c9"),
                   title=f"{name}: {FAMILY_NAMES.get(f, f)} {v:.0%}")
            if v >= (0.12 if narrow else 0.07):
                p.note(p.X(x + v / 2), mid, f"{v:.0%}", "#ffffff" if f not in ("other", "jazz_blues", "reggae",
                                                                               "folk_country") else INK,
                       anchor="middle", size=11)
            x += v
    # legend under the bars, five families a row
    y = p.top + p.ph + 26
    for j, f in enumerate(order):
        col, row = j % per_row, j // per_row
        x = 40 + col * ((p.w - 40 - p.right) / per_row)
        yy = y + 22 * row
        p.parts.append(f'<rect x="{_n(x)}" y="{_n(yy - 10)}" width="12" height="12" rx="2" '
                       f'fill="{FAMILY_COLOURS.get(f, "#c9c9c9")}"/>')
        p.note(x + 17, yy, FAMILY_NAMES.get(f, f), INK, size=11.5)
    p.h = int(y + 22 * math.ceil(len(order) / per_row))
    return p.svg("genre family mix"), None


def plot_pool(data: dict) -> tuple[str | None, str | None]:
    run = data["pool_run"]
    if run is None:
        return None, ("No pool distribution recorded yet: each `candidates` run records its pool's scores, and the "
                      "latest one is drawn here.")
    dist = run["summary"]["pool_scores"]
    edges, counts = dist["edges"], dist["counts"]
    pushed = [x for x in run["summary"].get("pushed") or [] if x.get("score") is not None]
    p = Plot(height=320, bottom=92)
    lo = min([edges[0]] + [x["score"] for x in pushed])
    hi = max([edges[-1]] + [x["score"] for x in pushed])
    ticks_y = nice_ticks(0, max(counts) * 1.1 or 1, 4)
    p.domain((lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo)), (0, ticks_y[-1]))
    p.y_axis(ticks_y, lambda v: f"{v:g}", "pool tracks")
    ticks_x = [t for t in nice_ticks(lo, hi, 4 if _narrow() else 8) if p.xlo <= t <= p.xhi]
    p.x_axis([(t, f"{t:g}") for t in ticks_x])
    p.note(p.left + p.pw, p.h - 6, "composite score (higher = more your taste)" if _narrow() else
           "composite score (higher = more likely your taste)", MUTED, anchor="end")
    for a, b, c in zip(edges[:-1], edges[1:], counts):
        if c:
            p.rect(a, b, 0, c, "#93b4d6", title=f"{c} tracks scored {a:.2f} to {b:.2f}")
    if dist.get("cut") is not None:
        p.vline(dist["cut"], SLICE_COLOURS["exploit"], label=f"cut {dist['cut']:.2f}")
    # one strip of ticks per slice under the axis: where each pushed track sat in the pool
    strip = p.top + p.ph + 34
    for j, s in enumerate(SLICES):
        xs = [x["score"] for x in pushed if x.get("slice") == s]
        y = strip + 14 * j
        p.note(p.left - 8, y + 4, s, SLICE_COLOURS[s], anchor="end", size=11)
        p.parts.append(f'<line x1="{_n(p.left)}" x2="{_n(p.left + p.pw)}" y1="{_n(y)}" y2="{_n(y)}" '
                       f'stroke="{GRID}"/>')
        for v in xs:
            px = p.X(v)
            p.parts.append(f'<line x1="{_n(px)}" x2="{_n(px)}" y1="{_n(y - 5)}" y2="{_n(y + 5)}" '
                           f'stroke="{SLICE_COLOURS[s]}" stroke-width="2"><title>{_e(s)} pick, score {v:.2f}'
                           '</title></line>')
        if xs:
            p.legend.append((f"{s} ({len(xs)})", SLICE_COLOURS[s], "line"))
    p.legend.append((f"pool of run {run['run_id']}: {dist.get('n', sum(counts)):,} tracks", "#93b4d6", "box"))
    return p.svg("pool composite score distribution"), None


def plot_calls(data: dict) -> tuple[str | None, str | None]:
    runs = [r for r in data["runs"] if r["summary"].get("calls_by_group") is not None]
    if not runs:
        return None, "No weekly run yet: the Spotify calls each run spends appear here after the first one."
    groups = sorted({g for r in runs for g in r["summary"]["calls_by_group"] if g != "reccobeats"},
                    key=lambda g: (list(GROUP_COLOURS).index(g) if g in GROUP_COLOURS else 99, g))
    totals = [sum(v for g, v in r["summary"]["calls_by_group"].items() if g != "reccobeats") for r in runs]
    budget = data["budget"]
    ticks = nice_ticks(0, max(totals + [budget["calls"]]) * 1.1, 5)
    p = Plot(height=270)
    p.domain((0.4, len(runs) + 0.6), (0, ticks[-1]))
    p.y_axis(ticks, lambda v: f"{v:g}", "Spotify calls")
    k = p.every(len(runs))
    p.x_axis([(i + 1, f"run {r['run_id']}\n{short_date(r['started_at'])}" if i % k == 0 else "")
              for i, r in enumerate(runs)])
    width = min(0.7, 56 / (p.X(1) - p.X(0)))
    for i, r in enumerate(runs):
        y = 0.0
        for g in groups:
            v = r["summary"]["calls_by_group"].get(g, 0)
            if v:
                p.rect(i + 1 - width / 2, i + 1 + width / 2, y, y + v, GROUP_COLOURS.get(g, "#9ca3af"),
                       title=f"run {r['run_id']}: {v} {g} calls")
                y += v
        if p.X(2) - p.X(1) >= 26:
            p.note(p.X(i + 1), p.Y(y) - 5, f"{totals[i]}", MUTED, anchor="middle", size=11)
    p.hline(budget["calls"], "#d1495b", label=f"plan {budget['calls']} calls a run")
    for g in groups:
        p.legend.append((g, GROUP_COLOURS.get(g, "#9ca3af"), "box"))
    return p.svg("Spotify calls per run"), None


PLOTS: dict[str, Callable[[dict], tuple[str | None, str | None]]] = {
    "fig-hit-rate": plot_hit_rate, "fig-labels": plot_labels, "fig-auc": plot_auc, "fig-sources": plot_sources,
    "fig-weights": plot_weights,
    "fig-corrections": plot_corrections, "fig-importance": plot_importance, "fig-genres": plot_genres, "fig-pool": plot_pool, "fig-calls": plot_calls,
}


# ------------------------------------------------------------------------------------------------ the data
def _family_mix(genre_lists: list) -> dict:
    from spotify_modeling.core.featurize import genre_family

    counts: dict[str, float] = {}
    known = 0
    for genres in genre_lists:
        fams: list[str] = []
        for g in genres or []:
            for f in genre_family(g):
                if f not in fams:
                    fams.append(f)
        if fams:
            known += 1
            for f in fams:
                counts[f] = counts.get(f, 0.0) + 1.0 / len(fams)
    return {"tracks": len(genre_lists), "known": known,
            "shares": {f: c / known for f, c in counts.items()} if known else {}}


def _importances(h: Home, top: int = 8) -> tuple[dict, str | None]:
    """Top features of each saved model by share of gain (loads the models: the report may, `status` may not)."""
    from spotify_modeling.errors import BadInput
    from spotify_modeling.pipeline.persist import load_model

    out, notes = {}, []
    for name in ("affinity", "playlist", "likeability", "label"):
        if not (h.models / f"{name}.joblib").exists():
            continue
        try:
            gains = load_model(name, h.models).feature_importances()
        except BadInput as err:
            notes.append(f"{name}: {err}")
            continue
        except Exception as err:   # an unexpected model object: the report still shows the rest
            notes.append(f"{name}: no importances ({type(err).__name__})")
            continue
        total = float(gains.sum())
        if total > 0:
            out[name] = [(str(f), float(v) / total) for f, v in gains.head(top).items() if v > 0]
    return out, ("; ".join(notes) or None)


def collect_report(h: Home, now: datetime | None = None) -> dict:
    """Everything the page shows: the `status` numbers plus every run's summary, the pushes, families, importances."""
    from spotify_modeling.db import reporting
    from spotify_modeling.errors import BadInput

    st = collect_status(h, now)
    with open_store(h) as store:
        runs = reporting.runs(store)
        pushes = reporting.pushes(store)
        families = {name: _family_mix(reporting.track_genres(store, key)) for name, key in
                    (("history", "history"), ("likes", "likes"), ("dislikes", "dislikes"),
                     ("candidates", "candidates"))}
    rates = hit_rate_table(pushes)
    rows = {} if rates is None else {(r["batch"], r["slice"]): r for r in rates.to_dict("records")}
    batches = sorted({p["batch"] for p in pushes})
    batch_dates: dict = {}
    for p in pushes:
        batch_dates.setdefault(p["batch"], p["pushed_at"])
    try:
        from spotify_modeling.pipeline.weekly import PUSH_RESERVE, WeeklyConfig

        cfg = WeeklyConfig.from_home(h)
    except BadInput:
        from spotify_modeling.pipeline.weekly import PUSH_RESERVE, WeeklyConfig

        cfg = WeeklyConfig()
    budget = {"calls": cfg.search_calls + cfg.genre_calls + cfg.backlog_calls + PUSH_RESERVE,
              "search": cfg.search_calls, "genres": cfg.genre_calls, "backlog": cfg.backlog_calls,
              "push": PUSH_RESERVE}
    importances, note = _importances(h)
    pool_run = next((r for r in reversed(runs) if (r["summary"].get("pool_scores") or {}).get("counts")), None)
    last_batch = [p for p in pushes if batches and p["batch"] == batches[-1]]
    return {"status": st, "runs": runs, "pushes": pushes, "rates": rows, "batches": batches,
            "batch_dates": batch_dates, "families": families, "importances": importances, "importance_note": note,
            "budget": budget, "pool_run": pool_run, "min_labels": cfg.min_labels_per_class,
            "last_batch": last_batch, "steps": setup_steps(h, st)}


# ------------------------------------------------------------------------------------------------ the page
CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1f2937; font: 16px/1.5 %(font)s; }
main { max-width: 980px; margin: 0 auto; padding: 28px 20px 48px; }
header h1 { font-size: 30px; line-height: 1.2; margin: 0 0 4px; letter-spacing: -0.01em; }
header p { margin: 0; color: #6b7280; font-size: 14px; }
.card { background: #fff; border-radius: 12px; padding: 20px 24px; margin-top: 18px;
        box-shadow: 0 1px 2px rgba(0,0,0,.06), 0 1px 8px rgba(0,0,0,.04); }
.headline { display: flex; gap: 28px; align-items: center; flex-wrap: wrap; }
.big { font-size: 72px; font-weight: 700; line-height: 1; color: #1f6fb2; letter-spacing: -0.03em; }
.big small { font-size: 28px; color: #6b7280; font-weight: 600; }
.headline .what { flex: 1; min-width: 280px; font-size: 18px; }
.headline .what strong { font-size: 20px; }
.trend { display: inline-block; margin-top: 8px; padding: 3px 10px; border-radius: 999px; font-size: 14px;
         font-weight: 600; }
.trend.rising { background: #dcfce7; color: #166534; }
.trend.falling { background: #fee2e2; color: #991b1b; }
.trend.unclear { background: #e5e7eb; color: #374151; }
.muted { color: #6b7280; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(135px, 1fr)); gap: 12px; margin-top: 18px; }
.tile { background: #fff; border-radius: 10px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
.tile b { display: block; font-size: 24px; line-height: 1.2; }
.tile span { color: #6b7280; font-size: 13px; }
figure { margin: 0; }
figure h2, .card h2 { font-size: 19px; margin: 0 0 6px; }
figcaption { color: #4b5563; font-size: 14.5px; margin-top: 8px; max-width: 860px; }
.empty { background: #f9fafb; border: 1px dashed #d1d5db; border-radius: 8px; padding: 18px; color: #4b5563;
         margin: 8px 0; }
.panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(340px, 100%%), 1fr)); gap: 4px 18px; }
table { border-collapse: collapse; width: 100%%; font-size: 14px; margin-top: 10px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e5e7eb; }
th { color: #6b7280; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; font-weight: 600; font-size: 17px; }
footer { color: #6b7280; font-size: 13px; margin-top: 24px; }
code { font: 0.92em ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
       background: #f3f4f6; padding: 1px 5px; border-radius: 4px; }
.next li { margin: 2px 0; }
.steps { margin: 10px 0 0; padding-left: 24px; font-size: 16px; }
.steps li { margin: 3px 0; }
.steps li.done { color: #6b7280; }
.steps li.next { font-weight: 600; }
.scroll { overflow-x: auto; }
.scroll table { min-width: 560px; }
.plot { overflow-x: auto; }
.plot svg { display: block; }
.plot .wide > svg { min-width: 600px; }
.plot .panels svg { min-width: 300px; }
.plot .narrow { display: none; }
.plot .narrow svg { min-width: 320px; max-width: 520px; margin: 0 auto; }
a { color: #1f6fb2; }
@media (max-width: %(narrow)dpx) {
  main { padding: 16px 8px 32px; }
  header h1 { font-size: 24px; }
  .card { padding: 14px 12px; border-radius: 10px; }
  .headline { gap: 10px 18px; }
  .big { font-size: 56px; }
  .headline .what { min-width: 0; flex-basis: 100%%; font-size: 16px; }
  .tiles { grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; }
  figcaption { font-size: 14px; }
  .plot .wide { display: none; }
  .plot .narrow { display: block; }
}
""" % {"font": FONT, "narrow": NARROW_SCREEN}


def _headline(st: dict, data: dict) -> str:
    hr = st["hit_rate"]
    trend = hr["trend"]
    if not hr["labelled"]:
        # no number yet: what will appear here, and the road to it, the next step marked (`setup_steps`)
        steps = data["steps"]
        first = next((i for i, x in enumerate(steps) if not x["done"]), None)
        items = []
        for i, x in enumerate(steps):
            kind = "done" if x["done"] else "next" if i == first else "todo"
            mark = {"done": "✓ ", "next": "<b>next:</b> ", "todo": ""}[kind]
            items.append(f'<li class="{kind}">{mark}{_prose(x["step"])}</li>')
        return ('<section class="card headline" id="headline"><div class="what"><strong>Your hit rate appears here '
                'after your first labelled batch</strong>: the share of the candidates you label that you like, '
                'beside random control tracks, week after week. The way there:'
                f'<ol class="steps">{"".join(items)}</ol></div></section>')
    vs = control_baseline(hr["by_slice"].get("control"))
    vs = vs[0].upper() + vs[1:] + "."
    if trend is None:
        badge = '<span class="trend unclear">one labelled batch so far: no trend yet</span>'
    else:
        word = {"rising": "▲ rising", "falling": "▼ falling"}.get(trend["direction"],
                                                                 "≈ not yet a clear change")
        badge = (f'<span class="trend {trend["direction"]}">{word}</span> '
                 f'<span class="muted">{_e(trend_sentence(trend, verdict=False))}</span>')
    return (f'<section class="card headline" id="headline"><div class="big">{100 * hr["hit_rate"]:.0f}<small>%</small>'
            f'</div><div class="what"><strong>of the candidates you labelled, you liked</strong><br>'
            f'{hr["liked"]} of {hr["labelled"]} (95% CI {_pct(hr["ci_low"])}–{_pct(hr["ci_high"])}).<br>{_e(vs)}<br>'
            f'{badge}</div></section>')


def _kinds_note(kinds: dict) -> str:
    """"; 4 by a heart, 3 removed" when labels came the one-tap ways."""
    parts = [f"{kinds[k]} {w}" for k, w in (("heart", "by a heart"), ("removed", "removed")) if kinds.get(k)]
    return ("; " + ", ".join(parts)) if parts else ""


def _tiles(st: dict, data: dict) -> str:
    lab = st["labels"]
    runs = data["runs"]
    last = runs[-1] if runs else None
    s2 = next(((r["summary"].get("stage2") or {}) for r in reversed(runs)
               if (r["summary"].get("stage2") or {}).get("fitted")), {})
    calls = (last["summary"].get("calls_total") if last else None)
    tiles = [
        (f"{len(runs)}", "weekly runs" + (f", the last {short_date(last['started_at'])}" if last else "")),
        (f"{lab['pushed']}", "candidates pushed"),
        (f"{lab['likes']} / {lab['dislikes']}", "likes / dislikes" + _kinds_note(lab.get("by_kind") or {})),
        (f"{lab['pending']}", "waiting for your label" + (f"; {lab['expired']} expired" if lab["expired"] else "")),
        ("–" if not s2 else f"{s2.get('cv_auc', float('nan')):.2f}", "stage-2 CV AUC (0.5 = chance)"),
        ("–" if calls is None else f"{calls}", "Spotify calls, last run"),
    ]
    return '<section class="tiles">' + "".join(f'<div class="tile"><b>{_e(v)}</b><span>{_e(t)}</span></div>'
                                               for v, t in tiles) + "</section>"


def _figure(fig_id: str, data: dict) -> str:
    title, caption = FIGURES[fig_id]
    with drawn_at(WIDE):
        svg, empty = PLOTS[fig_id](data)
    if svg is None:
        body = f'<p class="empty">{_prose(empty)}</p>'
    else:   # one drawing for wide screens, one for phones; the CSS shows one of them
        with drawn_at(NARROW):
            small, _ = PLOTS[fig_id](data)
        body = f'<div class="plot"><div class="wide">{svg}</div><div class="narrow">{small}</div></div>'
    return (f'<section class="card"><figure id="{fig_id}"><h2>{_e(title)}</h2>{body}'
            f'<figcaption>{_prose(caption)}</figcaption></figure></section>')


def _next_and_batch(st: dict, data: dict) -> str:
    nxt = st["next_run"]
    steps = [nxt["first"], *nxt["then"]]
    items = "".join(f"<li>{_prose(s)}</li>" for s in steps)
    out = f'<section class="card next" id="next-run"><h2>What the next weekly run will do</h2><ol>{items}</ol></section>'
    batch = data["last_batch"]
    mark = {1: "liked", 0: "disliked"}
    how = {"heart": " (heart)", "removed": " (removed)"}

    def link(p: dict) -> str:
        title = _e(p["name"] or p["track_id"])
        return f'<a href="https://open.spotify.com/track/{_e(p["track_id"])}">{title}</a>'

    def now(p: dict) -> str:
        return _e(mark.get(p["label"], p["status"]) + how.get(p.get("label_source") or "", ""))

    if batch:
        def row(p: dict) -> str:
            score = "" if p["score"] is None else f"{p['score']:.2f}"
            return (f"<tr><td>{_e(', '.join(p['artist_names']) or '?')} – {link(p)}</td>"
                    f"<td>{_e((p.get('reason') or '').split(';')[0])}</td><td>{_e(p['slice'])}</td>"
                    f"<td class='num'>{score}</td><td>{now(p)}</td></tr>")

        ordered = sorted(batch, key=lambda p: -(p["score"] if p["score"] is not None else -1e9))
        rows = "".join(row(p) for p in ordered)
        out += (f'<section class="card" id="latest-batch"><h2>Batch {batch[0]["batch"]}: the {len(batch)} tracks '
                f'pushed last, best first</h2><div class="scroll"><table><tr><th>track</th><th>why</th>'
                f'<th>slice</th><th>score</th><th>now</th></tr>{rows}</table></div></section>')
    liked = [p for p in data["pushes"] if p["label"] == 1 and (not batch or p["batch"] != batch[0]["batch"])]
    if liked:
        rows = "".join(f"<tr><td>{_e(', '.join(p['artist_names']) or '?')} – {link(p)}</td>"
                       f"<td>{_e((p.get('reason') or '').split(';')[0])}</td><td class='num'>{p['batch']}</td>"
                       f"<td>{now(p)}</td></tr>" for p in sorted(liked, key=lambda p: (-p["batch"], p["rank"])))
        out += (f'<section class="card" id="liked-before"><details><summary>The {len(liked)} candidates you liked '
                f'in earlier batches</summary><div class="scroll"><table><tr><th>track</th><th>why</th>'
                f'<th>batch</th><th>how</th></tr>{rows}</table></div></details></section>')
    return out


def render_html(data: dict) -> str:
    """The whole page as one string: no external reference of any kind."""
    from spotify_modeling import __version__

    st = data["status"]
    when = st["generated_at"].replace("T", " ").rstrip("Z") + " UTC"
    figures = "".join(_figure(fid, data) for fid in FIGURES)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>spotify-model report, {_e(when[:10])}</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>How well is it working for you?</h1><p>spotify-model report · {_e(when)} · "
        f"{len(data['runs'])} weekly runs, {st['labels']['pushed']} candidates</p></header>"
        + _headline(st, data) + _tiles(st, data) + figures + _next_and_batch(st, data)
        + f"<footer>Written by spotify-model {_e(__version__)} from your store alone; this page fetches nothing "
          "and can be kept or shared as one file.</footer></main></body></html>")


def report_path(h: Home) -> Path:
    return h.data / "report" / REPORT_NAME


def write_report(h: Home, now: datetime | None = None) -> Path:
    """Write `data/report/report.html` (atomically, mode 0600) and return its path. No network, nothing else written."""
    from spotify_modeling.atomic import atomic_path

    page = render_html(collect_report(h, now))
    path = report_path(h)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def report_after_run(h: Home) -> Path | None:
    """The end of `candidates` and `demo`: write the report and print its path. A failure here is a note, not the
    run's exit code: the weekly run itself is done and recorded."""
    try:
        start = time.perf_counter()
        path = write_report(h)
    except Exception as exc:   # noqa: BLE001 - told in one line, logged in full unless it is the user's to fix
        from spotify_modeling.cli.app import _log_bug
        from spotify_modeling.errors import UserError

        where = "" if isinstance(exc, UserError) else f"; details logged to {_log_bug(exc)}"
        err_console.print(f"[yellow]note:[/yellow] the report could not be written ({escape(str(exc))}{escape(where)}); "
                          "the run itself is done. Run `spotify-model report` to try again.", highlight=False,
                          soft_wrap=True)
        return None
    console.print(f"report: {escape(str(path))} [dim]({time.perf_counter() - start:.1f} s; "
                  "open it in a browser, or run `spotify-model report --open`)[/dim]", highlight=False, soft_wrap=True)
    return path


@app.command()
def report(
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
    open_: bool = typer.Option(False, "--open", help="Open the report in your browser."),
) -> None:
    """Write one self-contained HTML page of plots (data/report/report.html): is the share you like rising?"""
    from spotify_modeling.cli.app import require_writable

    h = Home.from_env(home)
    open_store(h).close()                      # no store: one line, exit 2, before anything else
    require_writable(report_path(h).parent, report_path(h))
    path = write_report(h)
    console.print(str(path), highlight=False, soft_wrap=True)
    if open_:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            err_console.print("[yellow]note:[/yellow] no browser could be started here; open the file above by hand.",
                              highlight=False)

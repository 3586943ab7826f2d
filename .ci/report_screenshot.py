"""Open a spotify-model report in headless Chromium, save a screenshot, and fail unless the page rendered.

    python .ci/report_screenshot.py REPORT.html OUT.png [--width 1280] [--height 2400]

Exit 0: rendered (the DOM has the headline and every figure of the file, and the screenshot is a page with
content, not a blank or an error page; in a window narrower than 700 px, a phone's, nothing sticks out past the
page's right margin either, i.e. the page is no wider than the window); 1: it did not render; 3: no Chromium on this
machine. Used by .ci/run (on the demo's report, 1280 and 400 px wide) and by docs/make_report_png.py (the README
picture).
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def _run(binary: str, args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=180)


def png_rows(path: Path, max_rows: int) -> tuple[int, int, list[bytes]]:
    """(width, height, the first `max_rows` rows as RGB(A) bytes) of an 8-bit RGB or RGBA PNG, in pure Python."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, [], 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour not in (2, 6):
                raise ValueError(f"unexpected PNG format (depth {depth}, colour type {colour})")
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompressobj().decompress(b"".join(idat), (width * bpp + 1) * max_rows)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for r in range(min(max_rows, height, len(raw) // (stride + 1))):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [r for r in rows]


def check_pixels(path: Path, rows: int = 700) -> str | None:
    """None if the top of the screenshot looks like a rendered report, else what is wrong."""
    width, height, lines = png_rows(path, rows)
    bpp = len(lines[0]) // width if lines else 3
    colours, inked, blue = set(), 0, 0
    for line in lines[::3]:
        for x in range(0, width * bpp, bpp * 3):
            r, g, b = line[x], line[x + 1], line[x + 2]
            colours.add((r >> 3, g >> 3, b >> 3))
            inked += (r + g + b) < 600
            blue += b > 150 and r < 80 and 80 < g < 140          # the headline number's blue (#1f6fb2)
    if len(colours) < 12 or inked < 500:
        return f"the screenshot is (nearly) blank ({len(colours)} colours, {inked} dark samples)"
    if blue < 20:
        return "neither the headline number nor a plot is on the screenshot (no report blue)"
    return None


def check_fits(path: Path, margin: int = 6, tolerance: int = 12) -> str | None:
    """None if the `margin` px at the right edge of the screenshot are page background in (nearly) every row: on a
    narrow window the report's cards end 8 px short of the edge, so anything there sticks out of the page."""
    width, height, lines = png_rows(path, 1 << 20)
    bpp = len(lines[0]) // width if lines else 3
    background = lines[0][(width - 1) * bpp:(width - 1) * bpp + 3]
    out = [r for r, line in enumerate(lines)
           if any(max(abs(line[x * bpp + c] - background[c]) for c in range(3)) > tolerance
                  for x in range(width - margin, width))]
    if len(out) > 0.002 * len(lines):
        return (f"the page is wider than the {width} px window: {len(out)} rows have content at its right edge "
                f"(first at y={out[0]})")
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--width", type=int, default=1280, help="window width in CSS px (400: a phone)")
    ap.add_argument("--height", type=int, default=2400)
    args = ap.parse_args(argv)
    binary = chromium()
    if binary is None:
        print("no Chromium found (apt-get install -y chromium)", file=sys.stderr)
        return 3
    page = args.report.resolve()
    html = page.read_text(encoding="utf-8")
    figures = re.findall(r'<figure id="([^"]+)">', html)
    dom = _run(binary, ["--dump-dom", page.as_uri()]).stdout
    missing = [f for f in ["headline", *figures] if f'id="{f}"' not in dom]
    if not figures or missing or dom.count("<svg") != html.count("<svg"):
        print(f"the report did not render in Chromium: missing {missing or 'figures'}, "
              f"{dom.count('<svg')} of {html.count('<svg')} plots in the DOM", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.unlink(missing_ok=True)
    shot = _run(binary, [f"--screenshot={args.out.resolve()}", f"--window-size={args.width},{args.height}",
                         page.as_uri()])
    if not args.out.exists():
        print(f"Chromium wrote no screenshot: {shot.stderr.strip()[-300:]}", file=sys.stderr)
        return 1
    problem = check_pixels(args.out) or (check_fits(args.out) if args.width < 700 else None)
    if problem:
        print(f"the report did not render in Chromium: {problem} ({args.out})", file=sys.stderr)
        return 1
    print(f"rendered in Chromium at {args.width} px: {len(figures)} figures, {html.count('<svg')} plots; "
          f"screenshot {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

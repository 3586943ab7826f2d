"""`spotify-model report`: one self-contained HTML page; every plot with its caption, empty states as sentences.

A hand-counted store (report_fixtures) checks the numbers drawn; one small demo, run once for the module through the
`demo` command, checks the page a real loop produces and that the demo ends by writing it.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import sqlite3
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from report_fixtures import add_control_tracks, build_home
from spotify_modeling.cli import main
from spotify_modeling.cli.report import FIGURES, report_path
from spotify_modeling.db.store import Store
from spotify_modeling.home import Home

#: anything the page would fetch; the only addresses it may hold are links to the tracks on open.spotify.com
#: (a click away, never loaded)
EXTERNAL = re.compile(r"<script|<link|@import|url\(|\ssrc\s*=|https?://(?!open\.spotify\.com/track/)",
                      re.IGNORECASE)


def figure(page: str, fig_id: str) -> str:
    """The HTML of one figure."""
    m = re.search(rf'<figure id="{fig_id}">(.*?)</figure>', page, re.S)
    assert m, fig_id
    return m.group(1)


def assert_every_figure_captioned(page: str) -> None:
    for fig_id, (title, caption) in FIGURES.items():
        body = figure(page, fig_id)
        assert f"<h2>{html.escape(title)}</h2>" in body
        shown = re.search(r"<figcaption>(.*?)</figcaption>", body, re.S).group(1)
        assert re.sub(r"</?code>", "", shown) == html.escape(caption.replace("`", ""))
        assert ("<svg" in body) != ('class="empty"' in body), fig_id      # a plot or a sentence, never both
        assert page.count(f'id="{fig_id}"') == 1


@pytest.fixture
def known(tmp_path, monkeypatch):
    monkeypatch.delenv("SPOTIFY_MODEL_HOME", raising=False)
    return build_home(tmp_path / "home", datetime.now(timezone.utc).replace(microsecond=0))


def _report(capsys, h: Home) -> str:
    assert main(["report", "--home", str(h.root)]) == 0
    path = report_path(h)
    assert capsys.readouterr().out.strip().replace("\n", "") == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return path.read_text(encoding="utf-8")


def test_report_of_a_known_store_draws_the_hand_counts(known, capsys):
    page = _report(capsys, known)
    assert_every_figure_captioned(page)
    assert not EXTERNAL.search(page)
    # the headline: the share of candidates liked, and whether it rises
    head = re.search(r'<section class="card headline" id="headline">(.*?)</section>', page, re.S).group(1)
    assert '50<small>%</small>' in head and "4 of 8" in head
    # two control labels are no baseline yet: said so, with the interval, never "50% (1 of 2)" as the line to beat
    assert ("2 random control tracks labelled so far: too few to compare with yet (95% CI 9%–91%); about 20 "
            "needed.") in head and "50% (1 of 2)" not in head
    assert "not yet a clear change" in head and "batch 1 40% liked (2/5), batch 2 67% (2/3): +27 points" in head
    hit = figure(page, "fig-hit-rate")
    assert "batch 1, exploit: 2 of 3 liked (67%" in hit and "batch 2, control: 1 of 1 liked (100%" in hit
    assert "random control: 2 labelled, 20 needed" in hit and not re.search(r"random baseline \d", hit)
    assert "waiting for" in hit                                    # batch 3 is pending
    labels = figure(page, "fig-labels")
    assert "run 4: 5 likes" in labels and "run 4: 4 dislikes" in labels and "run 2: 1 expired" in labels
    assert "run 3: 3 likes" in labels                              # the dry run read labels too
    auc = figure(page, "fig-auc")
    assert "run 4: cross-validated (by artist) 0.61" in auc and "stage 2, forward-chained 0.55 on 8 labels" in auc
    assert "run 4: prior composite, same labels 0.48 on 8 labels" in auc   # both AUCs, on the same labels
    assert "run 4: label 0.10" in figure(page, "fig-weights")
    changed = figure(page, "fig-corrections")   # the last run's corrections, largest first, in words
    assert changed.index("indie rock: +0.52") < changed.index("folk/country: -0.39") < changed.index(
        "newer releases: +0.20")
    genres = figure(page, "fig-genres")
    assert "1 of 2 tracks" in genres and "3 of 5 tracks" in genres   # history: h1 known, h2 not; likes: c1 c2 x1
    assert "likes: rock 33%" in genres and "candidates: hip hop 50%" in genres
    pool = figure(page, "fig-pool")
    assert "cut 1.50" in pool and "exploit (2)" in pool and "pool of run 4: 9 tracks" in pool
    assert "4 tracks scored -1.00 to 0.00" in pool
    calls = figure(page, "fig-calls")
    assert "plan 184 calls a run" in calls and "run 1: 80 search calls" in calls
    assert "run 2: 3 reccobeats" not in calls                       # ReccoBeats has no Spotify quota
    # the saved playlist "model" is not one: the plot says so instead of breaking
    imp = figure(page, "fig-importance")
    assert "No feature importances to show" in imp and "playlist" in imp and "spotify-model train" in imp
    nxt = re.search(r'id="next-run">(.*?)</section>', page, re.S).group(1)
    assert "wait: Spotify&#x27;s daily limit for search calls was reached" in nxt
    assert "Batch 3: the 2 tracks pushed last, best first" in page


def _dashed_lines(svg: str) -> list[str]:
    return re.findall(r'<line [^>]*stroke-dasharray="6 4"[^>]*/>', svg)


def test_a_thin_control_is_drawn_as_its_interval_not_as_a_line_to_beat(known, capsys):
    hit = figure(_report(capsys, known), "fig-hit-rate")
    assert _dashed_lines(hit) == []                               # no dashed line at "50% of 2"
    band = re.search(r'<rect [^>]*fill="#6b7280" fill-opacity="0.12"><title>(.*?)</title>', hit)
    assert band and band.group(1) == ("random control: 1 of 2 liked (95% CI 9%–91%): too few to compare with yet; "
                                      "about 20 needed")


def test_enough_control_tracks_make_a_baseline_with_its_interval(known, capsys):
    from spotify_modeling.cli.status import CONTROL_LABELS_NEEDED

    assert CONTROL_LABELS_NEEDED == 20                            # the threshold the sentences below state
    add_control_tracks(known, liked=1, disliked=19)               # 22 control labels: 2 liked
    page = _report(capsys, known)
    head = re.search(r'<section class="card headline" id="headline">(.*?)</section>', page, re.S).group(1)
    assert "Random control tracks 9% liked (2 of 22; 95% CI 3%–28%)." in head and "too few" not in head
    hit = figure(page, "fig-hit-rate")
    assert "random baseline 9% (2 of 22)" in hit and len(_dashed_lines(hit)) == 2   # the wide and the narrow plot
    assert 'fill-opacity="0.12"><title>random control: 2 of 22 liked (95% CI 3%–28%)</title>' in hit


def test_the_page_works_on_a_narrow_screen(known, capsys):
    """At phone widths the plots are redrawn for a narrow viewBox (text stays readable), inside containers that
    scroll sideways rather than shrink; tables scroll; tiles and panels wrap."""
    page = _report(capsys, known)
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    media = re.search(r"@media \(max-width: (\d+)px\) \{(.*?)\n\}", css, re.S)
    assert media and int(media.group(1)) >= 600, "no media query for narrow screens"
    narrow_css = media.group(2)
    assert re.search(r"\.plot \.wide \{ display: none; \}", narrow_css)
    assert re.search(r"\.plot \.narrow \{ display: block;", narrow_css)
    assert re.search(r"\.plot \{[^}]*overflow-x: auto", css) and re.search(r"\.plot [^{]*svg \{[^}]*min-width", css)
    assert re.search(r"\.scroll \{[^}]*overflow-x: auto", css) and re.search(r"\.scroll table \{[^}]*min-width", css)
    assert "repeat(auto-fit, minmax(" in css and "flex-wrap: wrap" in css
    for fig_id in FIGURES:
        body = figure(page, fig_id)
        if "<svg" not in body:
            continue
        plot = re.search(r'<div class="plot"><div class="wide">(.*?)</div><div class="narrow">(.*)</div></div>',
                         body, re.S)
        assert plot, f"{fig_id}: its SVG is not inside the scroll container"
        wide, narrow = plot.groups()
        assert body.count("<svg") == wide.count("<svg") + narrow.count("<svg"), fig_id
        assert wide.count("<svg") == narrow.count("<svg") >= 1, fig_id
        widths = [float(w) for w in re.findall(r'<svg viewBox="0 0 ([\d.]+) ', narrow)]
        assert widths and max(widths) <= 360, (fig_id, widths)       # drawn for a phone: about 1:1 at 400 px
        sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', narrow)]
        assert min(sizes) >= 10.5, fig_id
    assert page.count("<table>") == page.count('<div class="scroll"><table>')


def test_report_escapes_what_the_catalog_says(known, capsys):
    with sqlite3.connect(known.db_path) as c:
        c.execute("UPDATE tracks SET name = '<script>alert(1)</script> https://evil' WHERE track_id = 'c12'")
    page = _report(capsys, known)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page


def test_empty_states_render_as_sentences(tmp_path, capsys):
    h = Home(tmp_path / "fresh")
    with Store(h.db_path) as store, store.transaction() as c:
        c.execute("INSERT INTO imported_files(file_id, sha256, path, size, kind, rows, imported_at) "
                  "VALUES (1, 'x', 'f.json', 1, 'extended', 1, '2026-01-01T00:00:00Z')")
        c.execute("INSERT INTO plays(source, ts, ms_played, track_id, name_key, file_id) "
                  "VALUES ('extended', '2025-01-01T00:00:00Z', 1000, 't1', 'k', 1)")
    page = _report(capsys, h)
    assert_every_figure_captioned(page)
    assert "<svg" not in page and not EXTERNAL.search(page)
    expected = {"fig-hit-rate": "No weekly run has pushed a batch yet", "fig-labels": "No labels yet",
                "fig-auc": "Stage 2 is not fitted yet: it needs 8 likes and 8 dislikes",
                "fig-weights": "No weekly run has scored a pool yet",
                "fig-corrections": "No correction yet: the ranking follows your history alone",
                "fig-importance": "No feature importances to show", "fig-genres": "No genres known yet",
                "fig-pool": "No pool distribution recorded yet", "fig-calls": "No weekly run yet"}
    for fig_id, sentence in expected.items():
        assert f'<p class="empty">{sentence}' in figure(page, fig_id), fig_id
    assert "run <code>spotify-model candidates</code> and your first batch appears" in figure(page, "fig-hit-rate")
    # the headline is no lone dash: it says what will appear there, when, and the real next step (no login yet)
    head = re.search(r'<section class="card headline" id="headline">(.*?)</section>', page, re.S).group(1)
    assert 'class="big"' not in head
    assert "Your hit rate appears here after your first labelled batch" in head
    steps = re.findall(r"<li class=\"(done|next|todo)\">(.*?)</li>", head, re.S)
    assert [k for k, _ in steps] == ["done", "next", "todo", "todo", "todo", "todo"]
    assert "import your Spotify data export" in steps[0][1]
    assert "log in to Spotify: <code>spotify-model login</code>" in steps[1][1]
    assert "<code>spotify-model features</code>" in steps[2][1]
    assert "<code>spotify-model candidates</code>" in steps[3][1]
    assert "data_1" in steps[4][1] and "your hit rate appears here" in steps[5][1]


def test_report_into_a_read_only_home_is_refused_in_one_line(known, capsys, monkeypatch):
    import os

    real, denied = os.access, known.data

    def access(path, mode, *a, **kw):     # root ignores permission bits, so deny the write here
        if mode & os.W_OK and (Path(path) == denied or denied in Path(path).parents):
            return False
        return real(path, mode, *a, **kw)

    monkeypatch.setattr(os, "access", access)
    assert main(["report", "--home", str(known.root)]) == 2
    err = capsys.readouterr().err
    assert f"Cannot write to {known.data}" in err.replace("\n", "") and "Traceback" not in err
    assert not report_path(known).exists()


def test_report_open_hands_the_file_to_the_browser(known, capsys, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda uri: opened.append(uri) or True)
    assert main(["report", "--home", str(known.root), "--open"]) == 0
    assert opened == [report_path(known).as_uri()] and opened[0].startswith("file://")


def test_candidates_ends_by_writing_the_report(known, capsys, monkeypatch):
    from spotify_modeling.pipeline import weekly_run as weekly

    monkeypatch.setattr(weekly, "run_candidates", lambda h, **kw: weekly.WeeklyReport(run_id=4, batch=3,
                                                                                      pushed_ok=True))
    assert not report_path(known).exists()
    assert main(["candidates", "--home", str(known.root)]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert f"report: {report_path(known)}" in out
    assert "How well is it working for you?" in report_path(known).read_text()


def test_a_failing_report_is_a_note_not_the_weekly_runs_exit_code(known, capsys, monkeypatch):
    from spotify_modeling.cli import report as report_cli
    from spotify_modeling.pipeline import weekly_run as weekly

    monkeypatch.setattr(weekly, "run_candidates", lambda h, **kw: weekly.WeeklyReport(run_id=4, pushed_ok=True))

    def broken(h, now=None):
        raise RuntimeError("simulated")

    monkeypatch.setattr(report_cli, "write_report", broken)
    assert main(["candidates", "--home", str(known.root)]) == 0
    err = capsys.readouterr().err.replace("\n", " ")
    assert "the report could not be written (simulated" in err and "spotify-model report" in err
    assert "simulated" in (known.log_path).read_text()            # the details went to the log


# ------------------------------------------------------------------------------------------------ a real loop
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`spotify-model demo --weeks 2` on a small world (the command's own code path, one run for the module)."""
    from spotify_modeling.sandbox import demo as demo_mod

    real = demo_mod.run_demo
    home = tmp_path_factory.mktemp("demo") / "world"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo_mod, "run_demo", lambda *a, **kw: real(*a, n_tracks=2500, n_plays=2000, **kw))
        mp.delenv("SPOTIFY_MODEL_HOME", raising=False)
        with contextlib.redirect_stdout(out):
            code = main(["demo", "--weeks", "2", "--seed", "5", "--home", str(home)])
    return code, out.getvalue(), Home(home)


def test_demo_ends_with_its_report(demo):
    code, out, h = demo
    assert code == 0
    assert f"report: {report_path(h)}" in out.replace("\n", "")
    page = report_path(h).read_text(encoding="utf-8")
    assert_every_figure_captioned(page)
    assert not EXTERNAL.search(page)
    for fig_id in ("fig-hit-rate", "fig-labels", "fig-weights", "fig-importance", "fig-genres", "fig-pool",
                   "fig-calls"):
        assert "<svg" in figure(page, fig_id), fig_id
    imp = figure(page, "fig-importance")
    assert "feature importances of the affinity model" in imp and "feature importances of the playlist model" in imp
    with Store(h.db_path) as store:
        liked, labelled = store.conn.execute(
            "SELECT sum(l.label = 1), count(l.label) FROM pushes p JOIN labels l USING (track_id) "
            "WHERE p.status = 'labelled'").fetchone()
    assert f"{liked} of {labelled} (95% CI" in page            # the headline is the store's own count


def test_weekly_run_records_the_pool_distribution_the_report_draws(demo):
    _, _, h = demo
    with Store(h.db_path) as store:
        run_id, summary = store.conn.execute("SELECT run_id, summary FROM runs WHERE command = 'candidates' "
                                             "ORDER BY run_id DESC LIMIT 1").fetchone()
        exploit = [r[0] for r in store.conn.execute(
            "SELECT score FROM pushes WHERE run_id = ? AND slice = 'exploit'", (run_id,))]
        pushed = [r[0] for r in store.conn.execute("SELECT score FROM pushes WHERE run_id = ?", (run_id,))]
    s = json.loads(summary)
    dist = s["pool_scores"]
    assert len(dist["edges"]) == len(dist["counts"]) + 1 and dist["edges"] == sorted(dist["edges"])
    assert sum(dist["counts"]) == dist["n"] == s["pool"]["scored"]      # every scored pool track, once
    assert dist["cut"] == pytest.approx(min(exploit), abs=1e-6)          # the lowest exploit pick
    assert all(dist["edges"][0] - 1e-3 <= v <= dist["edges"][-1] + 1e-3 for v in pushed)   # drawn from this pool


def test_status_coverage_is_what_features_prints(demo):
    """`status` counts coverage in SQL of its own; on a real store it must agree with `features`' summary."""
    from spotify_modeling.db import reporting
    from spotify_modeling.pipeline import enrich

    _, _, h = demo
    with Store(h.db_path) as store:
        ours, theirs = reporting.coverage(store), enrich.coverage(store)
    for key in ("plays", "tracks", "with_id", "with_duration", "with_features", "with_genres", "names_unresolved",
                "names_missed", "features_source"):
        assert ours[key] == theirs[key], key
    assert 0 < ours["with_genres"]["tracks"] < ours["tracks"]

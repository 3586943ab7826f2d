"""The weekly run: labels → stage 2 → pool → score → select → push → record.

Spotify calls are spent where they matter, in this order: reading labels, then the push, then topping up the pool,
then genres for the slice of the pool that can still make the cut. A quota wall while topping up the pool or fetching
genres still lets the run push the best batch it can from what it has.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from spotify_modeling.pipeline import pool as pool_mod
from spotify_modeling.errors import CallBudgetSpent, QuotaExhausted, ServiceUnavailable
from spotify_modeling.core.metrics import artist_groups, cross_validate_model
from spotify_modeling.core.models import AffinityModel, LabelModel
from spotify_modeling.pipeline.persist import load_model, save_model
from spotify_modeling.core.provenance import guard_sentence, provenance_guard
from spotify_modeling.pipeline.playlists import (LabelSync, add_one_tap_labels, find_tool_playlists,
                                                 housekeeping_removals, mark_expired, mark_vanished,
                                                 read_tool_playlist, sync_labels, vanished_ids)
from spotify_modeling.core.selection import CompositeScorer, hit_rates
from spotify_modeling.core.selection import sources as sources_mod
from spotify_modeling.core.selection.decisions import (affinity_fit_data, choose_batch, composite_from_labels,
                                                    forward_chained, history_family_shares, rounded, score_pool,
                                                    stage2_prior_weight)
from spotify_modeling.core.selection.composite import DEFAULT_PRIOR_WEIGHTS
from spotify_modeling.db import library
from spotify_modeling.db import pushes_and_labels as loop_db
from spotify_modeling.db.store import Store
from spotify_modeling.sources.endpoints import OTHER_SERVICES, spotify_calls
from spotify_modeling.sources.errors import ApiError, RateLimited
from spotify_modeling.pipeline.settings import WeeklyConfig
from spotify_modeling.pipeline.train import history_window, training_data
from spotify_modeling.db.model_table import has_features, track_table

#: Spotify calls kept back for the push (read data_candidates once, add ≤ 30 URIs, maybe one removal).
PUSH_RESERVE = 4
#: Deezer look-ups the weekly backlog may spend on the history's release dates (no Spotify quota; ~20 s at its pace),
#: so the backlog's Spotify calls go to what only Spotify has
BACKLOG_DEEZER_CALLS = 200
#: kv key: {playlist id: track ids} of data_1 and data_0 at the last label sync.
LABELS_SEEN = "label_playlists_seen"
#: kv key: the run whose add to data_candidates is not confirmed yet (its records are settled by the next run).
UNSETTLED_PUSH = "unsettled_push"
#: kv key: {"playlist": id, "track_ids": [...]}: data_candidates as the last run left it. A candidate gone from it
#: since, and not labelled, is one the user removed (a weaker dislike); the tool's own removals happen before.
CANDIDATES_LEFT = "candidates_left"


@dataclass
class WeeklyReport:
    run_id: int = 0
    number: int = 0      # which weekly run this is, killed runs not counted ("Weekly run N")
    batch: int = 0
    dry_run: bool = False
    labels: dict = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    removed_copied: int = 0
    expired: int = 0
    vanished: int = 0
    quota_stopped: bool = False
    stage2: dict = field(default_factory=dict)
    pool: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    corrections: dict = field(default_factory=dict)   # what the labels changed in the ranking (logit offsets)
    pushed: list[dict] = field(default_factory=list)
    pushed_ok: bool = False
    notes: list[str] = field(default_factory=list)
    calls_by_group: dict = field(default_factory=dict)
    calls_total: int = 0
    calls_today: dict = field(default_factory=dict)
    quota_retry_after: float | None = None
    quota_limit: str | None = None   # what stopped it: "daily" (QUOTA_EXCEEDED) or "rate" (a long Retry-After)
    quota_groups: list[str] = field(default_factory=list)
    hit_rates: list[dict] = field(default_factory=list)
    backlog: dict = field(default_factory=dict)
    affinity_guard: dict = field(default_factory=dict)
    seconds: float = 0.0
    pool_scores: dict = field(default_factory=dict)   # the report's pool plot: score histogram, cut line
    sources: list[dict] = field(default_factory=list)  # hit rate of the labelled candidates by pool source
    stage2_vs_prior: dict = field(default_factory=dict)  # forward-chained AUC of stage 2 and the prior, same labels


labelled_pushes = loop_db.labelled_pushes


def _scores_frame(rows: pd.Series) -> pd.DataFrame:
    return pd.DataFrame([json.loads(s or "{}") for s in rows], index=rows.index)


class WeeklyRun:
    """One weekly run over injected clients (real spotipy in life, the stand-in server in tests and the demo)."""

    def __init__(self, store: Store, home, spotify, reccobeats, config: WeeklyConfig, dry_run: bool = False,
                 enricher=None, progress=None):
        self.store, self.home, self.spotify, self.reccobeats = store, home, spotify, reccobeats
        self.config = config
        self.dry_run = dry_run
        self.enricher = enricher
        self.progress = progress or (lambda msg: None)
        self.rng = np.random.default_rng(config.seed)
        self.report = WeeklyReport(dry_run=dry_run)
        self.scored_pool: pd.DataFrame | None = None   # the pool this run ranked (for benchmarks and the demo)
        self._usage_before = self.store.usage_today()
        self._played_cache: pd.DataFrame | None = None
        self._evidence_cache: pd.DataFrame | None = None
        self._pruned: set[str] = set()
        self._stage2_prior = 0.0   # stage 2's weight in the composite's prior (`stage2_prior_weight`)

    # ------------------------------------------------------------------------------------------ steps
    def run(self) -> WeeklyReport:
        start = time.perf_counter()
        self.report.run_id = loop_db.start_run(self.store, "candidates")
        status = "error"
        try:
            self.progress("Reading your playlists")
            playlists = self.sync_playlists()
            labelled = self.fit_stage2()
            self.progress("Topping up the candidate pool")
            self.top_up_pool(labelled)
            self.progress("Scoring the pool")
            chosen = self.score_and_select(labelled)
            if chosen is not None:
                self.progress("Pushing the batch")
                self.push(playlists, chosen)
            if not self.dry_run and self.enricher is not None and self.config.backlog_calls > 0:
                self.progress("Spending leftover calls on the enrichment backlog")
                self.report.backlog = self.enricher.backlog(self.config.backlog_calls)
            status = "dry-run" if self.dry_run else ("ok" if self.report.pushed_ok else "nothing-pushed")
        except KeyboardInterrupt:   # Ctrl-C: like a kill, not a weekly run unless its batch landed (COUNTED_RUN)
            status = "interrupted"
            raise
        except QuotaExhausted as err:
            status = "quota"
            self.report.quota_stopped = True
            self.report.quota_retry_after = err.retry_after
            self._note_limit(err)
            self.report.notes.append(str(err))
            raise
        finally:
            self.report.seconds = time.perf_counter() - start
            self._finish(status)
        return self.report

    def sync_playlists(self):
        pls = find_tool_playlists(self.spotify, self.store, create=not self.dry_run)
        for pl in pls.values():
            if pl.same_name > 1:
                self.report.notes.append(f"you have {pl.same_name} playlists named {pl.name}: the tool uses only the "
                                         "one it used before (else the first listed); rename or delete the others")
        for role in ("like", "dislike", "candidates"):
            if role in pls:
                read_tool_playlist(self.spotify, self.store, pls[role])
        stored = {lab: loop_db.label_ids(self.store, lab) for lab in (0, 1)}
        sides = {}
        for role, lab, name in (("like", 1, "data_1"), ("dislike", 0, "data_0")):
            pl = pls.get(role)
            if pl is None or (pl.created and stored[lab]):
                # the playlist is gone (deleted, or not created in a dry run): keep its labels rather than drop them
                sides[role] = stored[lab]
                if stored[lab]:
                    self.report.notes.append(f"{name} was missing: kept your {len(stored[lab])} earlier labels from it")
            else:
                sides[role] = pl.track_ids
        likes, dislikes = sides["like"], sides["dislike"]
        if self.dry_run:
            sync = LabelSync(total_likes=len(stored[1]), total_dislikes=len(stored[0]))
        else:
            # only a track taken out of the data_1/data_0 it was in at the last label sync loses its label
            seen = self.store.get_kv(LABELS_SEEN)
            seen_before = None if seen is None else {
                t for role in ("like", "dislike") for t in seen.get(pls[role].id, [])}
            with self.store.transaction():
                sync = sync_labels(self.store, likes, dislikes, seen_before)
                self.store.set_kv(LABELS_SEEN, {pls[role].id: pls[role].track_ids for role in ("like", "dislike")})
        self.report.labels = asdict(sync)
        self.report.conflicts = sync.conflicts
        if sync.conflicts:
            self.report.notes.append(f"{len(sync.conflicts)} track(s) are in both data_1 and data_0: not used "
                                     "until you keep them in one")
        cand = pls.get("candidates")
        if cand is not None and not self.dry_run:
            self.settle_unconfirmed_push(cand)
            self.one_tap_labels(cand, sync)
            labelled_ids = set(loop_db.label_ids(self.store))
            copied, expired = housekeeping_removals(self.store, cand.track_ids, labelled_ids,
                                                    self.config.expire_weeks)
            remove = list(dict.fromkeys(copied + expired))
            if remove:
                self.spotify.remove_items(cand.id, [f"spotify:track:{t}" for t in remove])
                mark_expired(self.store, expired)
                cand.track_ids = [t for t in cand.track_ids if t not in set(remove)]
                library.forget_snapshot(self.store, cand.id)   # our copy of the playlist is now stale
            self.report.removed_copied, self.report.expired = len(copied), len(expired)
            self.report.vanished = mark_vanished(self.store, cand.track_ids)
            self._candidates_left(cand, cand.track_ids)
        return pls

    def one_tap_labels(self, cand, sync: LabelSync) -> None:
        """Hearts and removals count: a pushed candidate still unlabelled that is in Liked Songs is a like; one the
        user took out of data_candidates without labelling it (and did not heart) is a weaker dislike.

        Liked Songs is asked for the pending candidates only (`GET /me/library/contains`, 40 a call: at most two
        calls for the 60 that can be pending). The tool's own removals (copied labels, expired candidates) happen
        after this, so they never count. A data_candidates the run had to create again (the user deleted it) says
        nothing about its tracks: no removal counts then.
        """
        pending = sorted(loop_db.pending_ids(self.store))
        hearted: list[str] = []
        checked = True
        if pending:
            try:
                saved = self.spotify.library_contains([f"spotify:track:{t}" for t in pending])
                hearted = [t for t in pending if saved.get(f"spotify:track:{t}")]
            except (ApiError, QuotaExhausted, ServiceUnavailable) as err:   # optional: the drags still count
                checked = False   # a removed track may have been hearted: no removal counts this run either
                self.report.notes.append(f"could not check Liked Songs for hearted candidates this run: {err}")
                if isinstance(err, QuotaExhausted):
                    self._note_limit(err)
        left = self.store.get_kv(CANDIDATES_LEFT) or {}
        seen = (set(left.get("track_ids") or []) if checked and left.get("playlist") == cand.id and not cand.created
                else set())
        removed = [t for t in vanished_ids(self.store, cand.track_ids) if t in seen and t not in hearted]
        with self.store.transaction():
            add_one_tap_labels(self.store, sync, hearted, removed, self.config.removed_weight)
        self.report.labels = asdict(sync)

    def _candidates_left(self, cand, track_ids: list[str]) -> None:
        """Remember data_candidates as this run leaves it: what the next run compares against to tell the user's
        removals from the tool's own (and from a playlist the user renamed or deleted)."""
        with self.store.transaction():
            self.store.set_kv(CANDIDATES_LEFT, {"playlist": cand.id, "track_ids": sorted(set(track_ids))})

    def label_data(self) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
        """(track table, labels, push info) of every labelled track with features."""
        lab = loop_db.labelled_tracks(self.store)
        if lab.empty:
            return pd.DataFrame(), np.array([]), lab
        X = track_table(self.store, list(lab["track_id"]))
        X = X[has_features(X)].reset_index(drop=True)
        lab = lab.set_index("track_id").loc[X["track_id"]].reset_index()
        return X, lab["label"].to_numpy(dtype=int), lab

    def fit_stage2(self):
        X, y, lab = self.label_data()
        n_like, n_dislike = int((y == 1).sum()), int((y == 0).sum())
        info = {"likes": n_like, "dislikes": n_dislike, "fitted": False}
        self.report.stage2 = info
        need = self.config.min_labels_per_class
        if min(n_like, n_dislike) < need:
            info["reason"] = (f"needs {need} likes and {need} dislikes with features "
                              f"(have {n_like} and {n_dislike}); ranking on stage 1 alone")
            return None
        w = lab["weight"].fillna(1.0).to_numpy(float) if "weight" in lab else None
        model = LabelModel().fit(X, y, sample_weight=w)
        cv = cross_validate_model(LabelModel(), X, y, artist_groups(X), n_boot=300)
        info.update(fitted=True, cv_auc=cv["value"], cv_low=cv["ci_low"], cv_high=cv["ci_high"])
        fwd = self._forward_auc(X, y, lab)
        info.update(fwd)
        if not self.dry_run:
            save_model(model, "label", self.home.models, self.home.training_features, {"cv": cv, **fwd})
        return model

    def _forward_auc(self, X, y, lab) -> dict:
        """Stage 2 against the prior composite, forward-chained over every labelled batch (`forward_chained`):
        both AUCs on the same labels, and the weight stage 2 starts from in the composite."""
        hist = labelled_pushes(self.store).set_index("track_id")
        scores = hist["scores"].reindex(lab["track_id"]).fillna("{}")
        Z = _scores_frame(scores.reset_index(drop=True))
        batches = lab["batch"].fillna(0).to_numpy(float)   # labels of tracks never pushed: known before any batch
        w = lab["weight"].fillna(1.0).to_numpy(float) if "weight" in lab else None
        ev = forward_chained(X, y, batches, Z, sample_weight=w, n_boot=300)
        if not ev:
            return {"forward_reason": "not enough labelled batches yet"}
        self._stage2_prior = stage2_prior_weight(ev)
        self.report.stage2_vs_prior = {k: (rounded(v) if isinstance(v, float) else v) for k, v in ev.items()}
        self.report.stage2_vs_prior["prior_weight"] = rounded(self._stage2_prior)
        return {"forward_auc": ev["label_auc"], "forward_low": ev["label_low"], "forward_high": ev["label_high"],
                "forward_batch": ev["batches"][-1], "forward_batches": ev["batches"],
                "prior_forward_auc": ev["prior_auc"], "prior_forward_low": ev["prior_low"],
                "prior_forward_high": ev["prior_high"], "forward_n": ev["n"]}

    def _calls_left(self, reserve: int = PUSH_RESERVE) -> int | None:
        """Spotify calls this run may still spend on a step, keeping `reserve` for the push (None = no cap)."""
        cap = getattr(self.spotify, "max_calls", None)
        if cap is None:
            return None
        return max(0, cap - self.spotify.calls_made - reserve)

    def _label_evidence(self) -> pd.DataFrame:
        """Every labelled track, newest label first, with its track row (artists, genres), label, weight and the
        pool source it came from: what the like-seeded sources and the dislike pruning read (once per run)."""
        if self._evidence_cache is None:
            rows = loop_db.labelled_artists(self.store)
            if not rows:
                self._evidence_cache = pd.DataFrame(columns=["track_id", "label", "weight", "batch", "artist_ids",
                                                             "artist_names", "track_name", "genres", "source"])
            else:
                lab = pd.DataFrame(rows, columns=["track_id", "label", "weight", "batch"])
                table = track_table(self.store, list(lab["track_id"]))
                table = table.set_index("track_id").reindex(lab["track_id"]).reset_index()
                src = loop_db.candidate_sources(self.store, lab["track_id"])
                self._evidence_cache = pd.concat(
                    [lab[["label", "weight", "batch"]], table[["track_id", "artist_ids", "artist_names", "track_name",
                                                       "genres"]]], axis=1).assign(
                    source=[src.get(t, ("search", None))[0] for t in lab["track_id"]])
        return self._evidence_cache

    def _search_menus(self) -> pool_mod.SearchMenus:
        """Your history's genres (fewer searches for genres you keep disliking), and your likes' artists and
        genres, with the artists your dislikes prune."""
        cfg = self.config
        ev = self._label_evidence()
        y, w = ev["label"].to_numpy(float), ev["weight"].to_numpy(float)
        history = pool_mod.taste_genres(self._played()["genres"]) if cfg.genre_share > 0 else {}
        if len(ev):
            factors = sources_mod.genre_dislike_factors(ev["genres"], y, w)
            history = {g: v * factors.get(g, 1.0) for g, v in history.items()}
        like = set(e for e in str(cfg.like_sources).replace(" ", "").split(",") if e)
        evidence = sources_mod.artist_evidence(ev, y, w)
        return pool_mod.SearchMenus(
            history_genres=history,
            liked_genres=sources_mod.liked_genre_menu(ev["genres"], y, w) if "liked_genre" in like else {},
            artists=sources_mod.liked_artists(ev, y, w) if "artist" in like else [],
            pruned_artists=sources_mod.pruned_artists(evidence, cfg.prune_dislikes))

    def top_up_pool(self, label_model) -> None:
        cfg = self.config
        left = self._calls_left(PUSH_RESERVE + min(cfg.genre_calls, 10))
        searches = cfg.search_calls if left is None else min(cfg.search_calls, left)
        menus = self._search_menus()
        self._pruned = menus.pruned_artists
        n_taste = int(round(cfg.genre_share * searches))
        eligible = [s for s, menu in (("genre", menus.history_genres), ("artist", menus.artists),
                                      ("liked_genre", menus.liked_genres)) if menu]
        hist = labelled_pushes(self.store)
        posteriors = sources_mod.source_posteriors(hist[hist["label"].notna()])
        plan = {"search": searches - (n_taste if eligible else 0),
                **sources_mod.allocate_searches(n_taste, eligible, posteriors, self.rng)}
        out = pool_mod.top_up_pool(self.spotify, self.store, searches, self.rng, cfg.per_page,
                                   calls_by_source=plan, menus=menus)
        info = {"searches": out.calls, "added": out.added,
                "genre_searches": sum(q.startswith("genre:") for q in out.queries),
                "plan": plan, "calls_by_source": out.calls_by_source, "added_by_source": out.added_by_source,
                "posteriors": {k: [round(a, 2), round(b, 2)] for k, (a, b) in posteriors.items()},
                "pruned_artists": len(menus.pruned_artists)}
        if out.stopped_by:
            self.report.quota_stopped = True
            self.report.notes.append(f"Pool top-up stopped by Spotify's quota after {out.calls} searches "
                                     f"(topped up less than planned): {out.stopped_by}")
            self.report.quota_retry_after = out.retry_after
            self._note_limit(out.stopped_error)
        if "reccobeats" in cfg.sources and self.reccobeats is not None and cfg.recco_seeds > 0:
            ev = self._label_evidence()
            liked = ev[ev["label"] == 1].head(cfg.recco_seeds)
            seeds = [{"track_id": t, "seed": f"{(names or ['?'])[0]} - {title}"}
                     for t, names, title in zip(liked["track_id"], liked["artist_names"], liked["track_name"])]
            if seeds:   # on by default once there are likes
                try:
                    info["reccobeats_added"] = pool_mod.add_recommendations(
                        self.reccobeats, self.store, seeds, size=cfg.recco_per_seed,
                        pruned_artists=menus.pruned_artists)
                    info["added_by_source"]["reccobeats"] = info["reccobeats_added"]
                except (ServiceUnavailable, QuotaExhausted) as err:   # optional: the batch goes out without it
                    self.report.notes.append(f"ReccoBeats recommendations skipped this run: {err}")
        ids = pool_mod.pool_track_ids(self.store)
        if self.enricher is not None:
            self.enricher.features(ids)
            stop = getattr(self.enricher, "features_stop", None)
            if stop:   # (reason, message): the pool is scored with the features it already has
                info["features_stopped"], info["features_message"] = stop
                self.report.notes.append(f"audio features for the pool stopped early: {stop[1]}")
                self.report.quota_stopped |= stop[0] in ("quota", "budget")
        info["size"] = len(ids)
        self.report.pool = info

    def _note_limit(self, err: Exception | None) -> None:
        """Which limit stopped the run and in which group, so `status` can say it (a rate limit is not the daily
        quota: it lifts in minutes or hours, not at the day's reset)."""
        if err is None or isinstance(err, CallBudgetSpent):
            return
        self.report.quota_limit = "rate" if isinstance(err, RateLimited) else "daily"
        group = getattr(err, "group", None)
        if group and group not in self.report.quota_groups:
            self.report.quota_groups.append(group)

    def _stage1_models(self) -> dict:
        models = {}
        for name in ("playlist", "likeability", "affinity"):
            try:
                models[name] = load_model(name, self.home.models)
            except Exception:  # absent or refused: the composite drops it
                continue
        return models

    def _played(self) -> pd.DataFrame:
        """Your played tracks as the stage-1 models see them (read once per run)."""
        if self._played_cache is None:
            self._played_cache = training_data(self.store)[0]
        return self._played_cache

    def _refit_affinity(self, X_played: pd.DataFrame, pool: pd.DataFrame) -> AffinityModel | None:
        """Played tracks vs random pool tracks, refitted each run as the pool grows, and checked for provenance."""
        data = affinity_fit_data(X_played, pool, history_window(self.store))
        if data is None:
            return None
        table, y, weight = data
        model = AffinityModel().fit(table, y, sample_weight=weight)
        guard = provenance_guard(model, table, y)
        self.report.affinity_guard = guard
        if not guard["ok"]:
            self.report.notes.append(f"affinity model: {guard_sentence(guard, 'affinity')}")
        if not self.dry_run:
            save_model(model, "affinity", self.home.models, self.home.training_features,
                       {"positives": len(X_played), "negatives": len(pool), "provenance_guard": guard})
        return model

    def score_and_select(self, label_model) -> pd.DataFrame | None:
        cfg = self.config
        pending = loop_db.pending_count(self.store)
        if pending >= cfg.max_pending:
            self.report.notes.append(f"data_candidates already holds {pending} unlabelled tracks "
                                     f"(max {cfg.max_pending}): no new batch this run")
            return None
        ids = pool_mod.pool_track_ids(self.store)
        pool = self._pool_table(ids)
        if pool.empty:
            if self.report.pool.get("features_stopped") == "unavailable":   # exit 69, not a quiet "done"
                raise ServiceUnavailable("No pool track has audio features: their source did not answer "
                                         f"({self.report.pool['features_message']}).",
                                         "The pool sampled so far is kept; run again later.")
            self.report.notes.append("the candidate pool has no track with audio features yet: nothing to push")
            return None
        models = self._stage1_models()
        # the affinity model's negatives must be random catalog tracks: search-sampled ones, not recommendations
        random_ids = set(pool_mod.random_sample_ids(self.store))
        aff = self._refit_affinity(self._played(), pool[pool["track_id"].isin(random_ids)])
        if aff is not None:
            models["affinity"] = aff
        if not models:
            self.report.notes.append("no stage-1 model yet: run `spotify-model features` (it trains them)")
            return None
        # the batch's slices, decided once: a batch never takes data_candidates past max_pending unlabelled
        sizes = cfg.slice_sizes(len(pool), room=cfg.max_pending - pending)
        n_total = int(sum(sizes.values()))
        # genres cost one call per artist: fetch them only for the slice that can still make the cut
        if self.enricher is not None:
            pre = score_pool(pool, models, label_model)
            pre_scores = CompositeScorer().fit().decision_function(pre)
            top = pool.iloc[np.argsort(-pre_scores)[: max(3 * n_total, 30)]]
            left = self._calls_left()
            fetched = self.enricher.genres([a for ids_ in top["artist_ids"] for a in (ids_ or [])[:1]],
                                           max_calls=cfg.genre_calls if left is None else min(cfg.genre_calls, left))
            self.report.pool["genre_calls"] = fetched
            if getattr(self.enricher, "quota_note", None):
                self.report.quota_stopped = True
                self.report.notes.append(f"genre look-ups stopped early: {self.enricher.quota_note}")
            if fetched:
                pool = self._pool_table(list(pool["track_id"]))
        scored = score_pool(pool, models, label_model)
        scored["random_sample"] = scored["track_id"].isin(random_ids)   # the control slice draws from these
        composite = self._composite()
        chosen = choose_batch(scored, composite, cfg, sizes, self.rng, history_family_shares(self._played()))
        self.report.weights = chosen.attrs["weights"]
        self.report.corrections = chosen.attrs.get("corrections", {})
        # the report's pool plot: this pool's composite-score histogram and the exploit slice's cut line
        pool_s = composite.decision_function(scored)
        counts, edges = np.histogram(pool_s[np.isfinite(pool_s)], bins=40)
        cut = chosen.loc[chosen["slice"] == "exploit", "score"]
        self.report.pool_scores = {"n": int(counts.sum()), "edges": [round(float(e), 4) for e in edges],
                                   "counts": counts.tolist(), "cut": rounded(cut.min()) if len(cut) else None}
        if chosen.attrs.get("note"):
            self.report.notes.append(chosen.attrs["note"])
        self.report.pool["scored"] = len(scored)
        self.scored_pool = scored
        return chosen

    def _pool_table(self, ids: list[str]) -> pd.DataFrame:
        """The pool tracks with features, each with its source and why it came (`pool_reason`); tracks of the
        artists your dislikes pruned are not offered."""
        pool = track_table(self.store, ids)
        pool = pool[has_features(pool)].reset_index(drop=True)
        if self._pruned and len(pool):
            first = [(a[0] if isinstance(a, list) and a else None) for a in pool["artist_ids"]]
            pool = pool[[f not in self._pruned for f in first]].reset_index(drop=True)
        src = loop_db.candidate_sources(self.store, pool["track_id"])
        ev = self._label_evidence()
        pool["artist_evidence"] = sources_mod.artist_evidence_column(pool["artist_ids"], None, ev["artist_ids"],
                                                                     ev["label"], ev["weight"])
        pool["source"] = [src.get(t, ("search", None))[0] for t in pool["track_id"]]
        pool["pool_reason"] = [src.get(t, ("search", None))[1] or sources_mod.pool_reason(s, None)
                               for t, s in zip(pool["track_id"], pool["source"])]
        return pool

    def _composite(self) -> CompositeScorer:
        """Learnt from every labelled push: its stored z-features, and its track (genres, release) for the
        corrections."""
        hist = labelled_pushes(self.store)
        hist = hist[hist["label"].notna()].reset_index(drop=True)
        if not len(hist):
            return composite_from_labels(None, hist["label"])
        tracks = track_table(self.store, list(hist["track_id"])).set_index("track_id").reindex(hist["track_id"])
        ev = self._label_evidence()
        tracks = tracks.reset_index().assign(
            source=hist["source"].to_numpy(),
            artist_evidence=sources_mod.artist_evidence_column(
                tracks["artist_ids"].to_numpy(), hist["batch"].to_numpy(), ev["artist_ids"], ev["label"],
                ev["weight"], ev["batch"].fillna(0)))
        return composite_from_labels(_scores_frame(hist["scores"]), hist["label"], tracks,
                                     sample_weight=hist["weight"].fillna(1.0).to_numpy(float),
                                     prior_weights={**DEFAULT_PRIOR_WEIGHTS, "label": self._stage2_prior})

    def push(self, playlists, chosen: pd.DataFrame) -> None:
        batch = loop_db.last_batch(self.store) + 1
        self.report.batch = batch
        self.report.pushed = [
            {"track_id": r.track_id, "artist": ", ".join(r.artist_names or []) if isinstance(r.artist_names, list)
             else str(r.artist_names), "title": r.track_name, "score": rounded(r.score), "slice": r.slice, "rank": int(r.rank),
             "reason": r.reason, "source": getattr(r, "source", "search")}
            for r in chosen.itertuples()]
        if self.dry_run:
            return
        cand = playlists["candidates"]
        already = set(cand.track_ids)
        new = [t for t in chosen["track_id"] if t not in already]
        with self.store.transaction() as conn:
            loop_db.record_pushes(conn, [(r.track_id, self.report.run_id, batch, r.slice, int(r.rank), rounded(r.score),
                                          rounded(r.choice_prob), r.scores, r.reason) for r in chosen.itertuples()])
            loop_db.set_candidate_status(conn, chosen["track_id"], "pushed")
            # until the add is confirmed, the next run settles these records against data_candidates
            self.store.set_kv(UNSETTLED_PUSH, {"run_id": self.report.run_id, "playlist": cand.id})
        try:
            if new:
                self.spotify.add_items(cand.id, [f"spotify:track:{t}" for t in new])
        except BaseException as err:
            from spotify_modeling.sources.spotify import WRITE_CHUNK

            refused = isinstance(err, (QuotaExhausted, CallBudgetSpent)) and len(new) <= WRITE_CHUNK
            self._reconcile_failed_push(cand, list(chosen["track_id"]), set(already) if refused else None)
            raise
        with self.store.transaction():
            library.forget_snapshot(self.store, cand.id)
            self.store.set_kv(UNSETTLED_PUSH, None)
        self._candidates_left(cand, list(cand.track_ids) + new)
        self.report.pushed_ok = True

    def _reconcile_failed_push(self, cand, track_ids: list[str], landed: set[str] | None = None) -> None:
        """An add failed, perhaps after Spotify applied it: keep the record of exactly what landed.

        `landed` is given when the add was one call refused before Spotify applied it (a 429, or no budget left to
        send it); else data_candidates is read back.
        """
        if landed is None:
            try:
                # the snapshot first, then the items only if it changed (an add that was not applied leaves the copy
                # read at the start of this run valid); stored together, so the next run need not read them again
                # (were the playlist changed in between, the stored snapshot is the older one: a re-read, never
                # a stale copy)
                cand.snapshot_id = self.spotify.playlist_snapshot_id(cand.id)
                cand.created = False
                landed = set(read_tool_playlist(self.spotify, self.store, cand).track_ids)
            except Exception:  # cannot tell now: keep the records; the next run settles them (settle_unconfirmed_push)
                return
        self._forget_unlanded(track_ids, landed, self.report.run_id)
        self._candidates_left(cand, list(landed))
        with self.store.transaction():
            self.store.set_kv(UNSETTLED_PUSH, None)
        if any(t in landed for t in track_ids):
            self.report.pushed_ok = True
            self.report.notes.append(f"the push was interrupted: {sum(t in landed for t in track_ids)} of "
                                     f"{len(track_ids)} tracks reached data_candidates")

    def _forget_unlanded(self, track_ids: list[str], landed: set[str], run_id: int) -> None:
        """Records of tracks that never reached data_candidates go; the tracks go back to the pool."""
        gone = [t for t in track_ids if t not in landed]
        with self.store.transaction() as conn:
            loop_db.forget_pushes(conn, gone, run_id)
            loop_db.set_candidate_status(conn, gone, "pool")

    def settle_unconfirmed_push(self, cand) -> None:
        """An earlier run's add ended without an answer and without a read-back (a crash, an outage, a quota wall):
        settle its records against data_candidates as read now, so only tracks that landed stay recorded."""
        pending = self.store.get_kv(UNSETTLED_PUSH)
        if not pending:
            return
        if cand.id == pending["playlist"] and not cand.created:
            ids = loop_db.push_ids_of_run(self.store, pending["run_id"])
            labelled = set(loop_db.label_ids(self.store))  # landed, then moved
            self._forget_unlanded(ids, set(cand.track_ids) | labelled, pending["run_id"])
        # else the playlist is gone: what landed cannot be told; the records stay (and count as removed)
        with self.store.transaction():
            self.store.set_kv(UNSETTLED_PUSH, None)

    def _finish(self, status: str) -> None:
        after = self.store.usage_today()
        used = {g: after.get(g, 0) - self._usage_before.get(g, 0) for g in after}
        self.report.calls_by_group = {g: n for g, n in used.items() if n}
        self.report.calls_today = {g: n for g, n in after.items() if g not in OTHER_SERVICES}
        self.report.calls_total = spotify_calls(used)
        hist = labelled_pushes(self.store)
        if len(hist):
            hr = hit_rates(hist.assign(label=hist["label"].where(hist["status"] != "expired")))
            self.report.hit_rates = hr.replace({np.nan: None}).to_dict("records")
            self.report.sources = sources_mod.hit_rate_by_source(hist[hist["label"].notna()])
        self.report.number = loop_db.weekly_run_number(self.store, self.report.run_id)
        loop_db.finish_run(self.store, self.report.run_id, status,
                           json.dumps(asdict(self.report), default=_json_default))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    return str(o)


@contextmanager
def calls_at_most(spotify, calls: int):
    """A budget of at most `calls` more Spotify calls for the block (within what the client's own cap leaves); the
    client's cap is its own again after the block, however it ends."""
    cap = spotify.max_calls
    if cap is not None:
        calls = min(calls, max(0, cap - spotify.calls_made))
    spotify.max_calls = spotify.calls_made + calls
    try:
        yield
    finally:
        spotify.max_calls = cap


class PoolEnricher:
    """Audio features and genres for pool tracks, from the same sources as the history's (see `enrich`)."""

    def __init__(self, store: Store, spotify, reccobeats, deezer=None):
        from spotify_modeling.pipeline import enrich

        self.store, self.spotify, self.reccobeats, self.deezer = store, spotify, reccobeats, deezer
        self.genres_source, self.features_source, self.features_csv = enrich.history_sources(store)
        self.quota_note: str | None = None                       # genre look-ups stopped by a quota wall
        self.features_stop: tuple[str, str] | None = None        # (reason, message) of the last features step

    def features(self, track_ids: list[str]) -> int:
        """Features for pool tracks from the history's source (ReccoBeats costs no Spotify call)."""
        from spotify_modeling.pipeline import enrich

        spotify = self.spotify if self.features_source == "spotify" else None
        report = enrich.enrich_tracks(self.store, track_ids, spotify=spotify, reccobeats=self.reccobeats,
                                      genres_source="none")
        self.features_stop = (report.stopped, report.message or report.stopped) if report.stopped else None
        return len(track_ids)

    def backlog(self, max_calls: int) -> dict:
        """Leftover calls go to what `features` has not finished (ids, metadata, genres of the history)."""
        from spotify_modeling.pipeline import enrich

        with calls_at_most(self.spotify, max_calls):
            report = enrich.enrich_history(self.store, self.spotify, self.reccobeats,
                                           genres_source=self.genres_source, features_source=self.features_source,
                                           features_csv=self.features_csv, deezer=self.deezer,
                                           deezer_details_calls=BACKLOG_DEEZER_CALLS)
        return {"calls": spotify_calls(report.calls_this_run),
                "stopped": report.stopped, "coverage": report.coverage.get("with_genres")}

    def genres(self, artist_ids: list[str], max_calls: int) -> int:
        """Genres of at most `max_calls` artists not fetched yet; a quota wall ends it quietly."""
        from spotify_modeling.pipeline import enrich

        if self.genres_source == "none":
            return 0
        todo = enrich.artists_needing(self.store, list(dict.fromkeys(artist_ids)), self.genres_source)[:max_calls]
        try:
            return enrich.fetch_genres(self.store, todo, spotify=self.spotify, source=self.genres_source).done
        except QuotaExhausted as err:
            self.quota_note = str(err)
            return 0


def run_candidates(home, dry_run: bool = False, max_calls: int | None = None, source: str | None = None,
                   seed: int | None = None, progress=None, config: WeeklyConfig | None = None) -> WeeklyReport:
    """Build the real clients from the environment and run one week (what `spotify-model candidates` does)."""
    from spotify_modeling.errors import BadInput
    from spotify_modeling.sources import DeezerClient, ReccoBeatsClient, SpotifyClient, deezer_url_from_env

    if not home.db_path.exists():
        raise BadInput(f"No store at {home.db_path}.", "Run `spotify-model features EXPORT` first.")
    config = config or WeeklyConfig.from_home(home, sources=source, seed=seed)
    with home.lock(on_wait=progress):
        store = Store.open(home)
        try:
            spotify = SpotifyClient.from_env(home, recorder=store, max_calls=max_calls)
            reccobeats = ReccoBeatsClient(recorder=store)
            deezer = DeezerClient(recorder=store) if deezer_url_from_env() else None
            run = WeeklyRun(store, home, spotify, reccobeats, config, dry_run=dry_run,
                            enricher=PoolEnricher(store, spotify, reccobeats, deezer), progress=progress)
            return run.run()
        finally:
            store.close()

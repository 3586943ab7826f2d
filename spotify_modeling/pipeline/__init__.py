"""The steps a command runs: ingest, enrichment, pool top-up, playlists sync, training, the weekly run."""

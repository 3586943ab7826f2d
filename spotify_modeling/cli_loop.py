"""Commands of the modelling and weekly loop: registered on the `spotify-model` app."""

from __future__ import annotations

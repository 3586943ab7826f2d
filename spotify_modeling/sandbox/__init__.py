"""The stand-in server, the simulated world and the demo: used by `spotify-model demo`, tests and
benchmarks only; nothing else in the product imports it."""

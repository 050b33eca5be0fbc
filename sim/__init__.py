"""phasemix.sim: memorization Monte-Carlo drivers, sweeps and result stores.

Modules: ``population`` (fact populations), ``memorization`` (M1 static threshold, M2 finite training with the
'bn' and 'race' dynamics), ``realsynth`` (M3 real-synthetic learner), ``waterfill`` (host capacity allocation),
``store`` (JSONL store with resume), ``executors`` (serial / process pool), ``sweep`` (TOML grids), ``plots``.
"""

"""Connecting smaller suppliers to opportunities (issue 13).

* ``opportunities``: what a supplier could bid for: notices by stage (pipeline, engagement,
  planned, open, closed, awarded, cancelled), contracts about to expire, and challenges a
  buyer writes in a small YAML or CSV file.
* ``profiles``: what each supplier has won, built from the store (CPV codes, text, buyers,
  place, capacity, scale and VCSE status), optionally as of a date (for the replay).
* ``match``: ranks suppliers for an opportunity (BM25 text relevance, CPV hierarchy,
  distance, capacity fit, buyer familiarity), each result with its components and the past
  awards that justify it; and opportunities for one supplier.
* ``evaluate``: the time-split replay of real awards, with baselines.
* ``consortium``: teams of smaller suppliers covering an opportunity, as an exact integer
  program (HiGHS), with a labelled greedy fallback.

Everything here reads the store read-only; ``docs/matching.md`` documents the measures.
"""

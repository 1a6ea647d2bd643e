"""The view layer: what a person is shown, assembled once for every interface.

``queries`` assembles each page's data from the library behind a cache keyed on the store
file (``Store``/``Session``), validating parameters so a rule and its error message exist
once; ``present`` words and formats figures; ``charts`` writes Vega-Lite specs; ``status``
says what the store holds. The CLI, the dashboard (``locality.web``) and the HTML report
(``locality.report``) all read from here; nothing here imports them.
"""

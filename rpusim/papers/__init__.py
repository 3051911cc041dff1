"""The papers: one module per paper (its network kind, variants, presets and claims) and the catalog.

Each module builds :class:`rpusim.framework.Experiment` objects; :mod:`.catalog` lists them. The
framework never imports this package; the command line joins the two.
"""

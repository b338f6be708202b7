"""pneumo.site_kit: how a new site validates and adapts a shipped model (torch side).

``pneumo-adapt`` (``adapt_cli.py``) recalibrates a model on a site's own labelled films and, with
unlabelled ones, re-estimates its batch-normalisation statistics (``adapt.py``); ``study.py`` is the
study that measured what that adaptation buys (docs: the site kit).
"""

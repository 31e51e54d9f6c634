"""Search: the `embeddings` (per episode) and `search_index` (single writer) assets.

Layout: ``resources`` (the :class:`EmbeddingModel` resource), ``assets`` (``build_embeddings_asset``
and ``search_index``), ``checks`` (asset checks of both), ``automation`` (the ``search_automation``
sensor and ``search_index_job``). The logic itself is plain Python in :mod:`cast_pipeline.search`.
"""

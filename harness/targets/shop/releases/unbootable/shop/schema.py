"""This release cannot boot: shop.web imports this module, and it fails at import, as a
missing dependency would. The worker and the migrations do not import it."""

raise ImportError("shop.web: a module this release needs is not installed")

"""A user's package, as `actlab advise advise_pkg.models:make_net` sees one (test fixture)."""

"""The prediction path's machinery: why each piece exists.

A single-row prediction on this machine costs well under a millisecond of model time, so the
framework around it decided the throughput. Each module here removes one measured cost
(bench/serving/README.md has the numbers) and keeps the behaviour a DRF view would have:

- `middleware`: the prediction paths' own short middleware chain (security headers,
  sessions, authentication); the full chain cost a tenth of a 100-row request's CPU.
- `http`: plain Django views with DRF's rules (token or session with CSRF, JSON errors),
  and a per-process token cache (a database round trip per request otherwise).
- `routing`: which version serves a request, in one place, with the hook an A/B test uses.
- `cache`: the per-process version resolution (a short TTL, so promotions reach every
  process within half a second) and the LRU of loaded, checksum-verified versions.
- `logrow`: the prediction log row defined once (columns, JSON columns).
- `logwriter`: one background thread per web process writing every request's log rows of
  the last flush interval in one COPY; requests stop waiting for the database.
- `openapi`: OpenAPI entries for these views, which drf-spectacular cannot discover.

The domain side (validate, predict, log; feedback; batch jobs) is `inference.services`.
"""

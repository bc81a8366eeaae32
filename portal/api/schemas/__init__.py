"""Request and response models of the JSON API (camelCase, as the seeds).

One module a resource: `schemas/<resource>.py` holds the models of the routes in
`api/<resource>.py` (a route module imports them as `s`). What several resources
share (the `In`/`Out` base models, `ListQuery`, `PageOut`, ids, amounts, times,
`EffectOut`) is in `schemas/common.py`. Nothing is re-exported from here.
"""

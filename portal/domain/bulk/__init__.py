"""Bulk work run by the worker in batches: member imports from a file, points grants to an audience.

`jobs` holds the job model and the runner; `member_import` and `points_grant` the two kinds of job.
"""

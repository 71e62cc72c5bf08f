"""The distributed engine: Celery with Redis as broker, results straight to SQL.

``celery_app`` (configuration and queues), ``tasks`` (thin, named, id-only tasks), ``dispatch``
(sending and revoking them: the distributed executor's half on the submitting side), ``lease``
(a phone to one benchmark at a time across workers), ``consumer`` and ``supervisor``
(``farm worker``: one single-slot consumer per phone), ``beat`` (the nightly schedule).
"""

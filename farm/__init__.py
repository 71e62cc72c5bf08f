"""The application layer: the farm's use cases, the executors that run them, and the entry points
(the ``farm`` command line in ``farm.cli``, the Celery side in ``farm.distributed``).

Everything below it is a library that knows nothing of it: the kernel (``orchestrator``), the zoo
(``models``), what runs on devices (``workers``) and the reports (``dashboards``). See
docs/architecture.md.
"""

"""Account jobs on Celery workers over RabbitMQ (issue 15): ``vats worker``, ``vats workers``
and ``CeleryEngine``, the engine ``vats watch --engine celery`` runs its inventories on.

Why the split is where it is: the watcher stays the single owner of scheduling, diffing, the
snapshot store and the outbox, so the events are exactly those of the local engine; a worker
only runs one account's job in a Chromium of its own (``tasks.py``) and answers with what the
watcher needs. Browsers shape the job semantics (``app.py`` has every setting, each with why):
one job per account in flight, one message prefetched per pool process, inventories
acknowledged late and redelivered when their worker dies, changes that plan again from the
cabinet's state when redelivered, time limits, recycled pool processes, and no Chromium left
behind by a killed job (``worker.py``). Passwords never travel: a message names the account's
password variable or file, the worker reads its own.
"""

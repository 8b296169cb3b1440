"""Watching many accounts: scheduled inventories, snapshots and change events (docs/watch.md).

``config`` reads the accounts file; ``events`` turns two snapshots into CloudEvents; ``store``
keeps snapshots and the outbox in SQLite; ``sinks`` deliver events (JSONL, webhooks, RabbitMQ);
``deliver`` runs one deliverer per sink; ``runner`` schedules the accounts.
"""

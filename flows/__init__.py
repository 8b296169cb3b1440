"""User flows on top of the library: login, abonents, trunks, changes — and the ``vats`` CLI."""

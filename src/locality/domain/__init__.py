"""Rules of the domain: what a published value means, what kind of agreement a process sets
up, what each notice form is. Pure functions over plain data; nothing else of locality is
imported here, so every stage (ingest, metrics, views) can read the same rule."""

"""The live layer: ``hub`` (rooms and delivery to sockets), ``protocol`` (GET /ws),
``bridge`` (Redis pub/sub between instances, publishing and seq; ``resp`` speaks the wire),
``rooms`` (the four room kinds) and ``pushes`` (changes turned into pushes)."""

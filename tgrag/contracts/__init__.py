"""Contract test suites shipped beside the kernel protocols, for every backend (ours and third-party
ones) to prove the same behaviour: subclass the mixin in a pytest module and provide its fixtures.
They need ``pytest`` (the ``test`` extra)."""

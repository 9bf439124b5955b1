"""The test suite's password hasher: PBKDF2-SHA256 as in production, at a thousandth of its iterations.

A default hash costs 0.36 s of CPU on a slow core, and the suite makes one for every user it creates
(two in most tests) and checks one at every login. A hash carries its algorithm and iterations, so every
process with Django's default hashers checks these too: the servers and workers that tests start log the
same users in (and upgrade the hash to the default iterations when they do, as Django does).
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1000

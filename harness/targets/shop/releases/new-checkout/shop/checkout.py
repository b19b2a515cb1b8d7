"""The new checkout, behind the `new_checkout` flag: it asks a tax service that does not
answer, so every order from a user the flag is on for fails with 500."""

from shop import flags

FLAG = "new_checkout"


def check(settings, values, user):
    if flags.enabled(settings, FLAG, user):
        raise RuntimeError("new checkout: the tax service did not answer")

"""Checks an order passes before it is stored. This release has none."""


def check(settings, values, user):
    return None

"""Fault kinds: one module each, and one line each in `kinds.KINDS`.

A kind parses its own `[fault]` table into its own frozen spec
(`harness.config.faultspec.FaultSpec`), rehearses it (injects it, as a context manager
that undoes what it can, and hands a single incident to the runbook's detect-and-recover),
and says what it leaves behind. The runbook and the phases ask the kind; they never
compare its name. `base` holds what every kind shares.
"""

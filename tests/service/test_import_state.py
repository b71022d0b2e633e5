"""No import changes process-wide interpreter state.

A service worker imports modules lazily, on the first request that needs them (`GET /por/api/round` imports the
reserves code, hence eth-account, hence py_ecc, which raised the recursion limit to 100,000 for the whole
process; a nested JSON body then overflowed the C stack: SIGSEGV). So: import EVERY module of the package, in a
fresh interpreter (this test process has imported who knows what), and compare the state before and after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import bastion

# The children import the same bastion as this process (the work tree's src/, or the installed package).
_ENV = {**os.environ, "PYTHONPATH": str(Path(bastion.__file__).resolve().parents[1])}

_PROBE = textwrap.dedent(
    """
    import decimal, importlib, json, pkgutil, signal, sys, threading

    def state():
        ctx = decimal.getcontext()
        return {
            "recursion_limit": sys.getrecursionlimit(),
            "switch_interval": sys.getswitchinterval(),
            "thread_stack_size": threading.stack_size(),
            "decimal": [ctx.prec, ctx.rounding, ctx.Emax, ctx.Emin, sorted(str(t) for t in ctx.traps if ctx.traps[t])],
            "decimal_default": [decimal.DefaultContext.prec, decimal.DefaultContext.rounding],
            "int_max_str_digits": sys.get_int_max_str_digits(),
            "signals": {s: repr(signal.getsignal(getattr(signal, s))) for s in ("SIGINT", "SIGTERM", "SIGSEGV")},
        }

    import bastion
    before = state()
    changed, failed, count = {}, {}, 0
    for mod in pkgutil.walk_packages(bastion.__path__, "bastion."):
        was = state()
        try:
            importlib.import_module(mod.name)
        except Exception as exc:  # an optional extra missing: reported, not hidden
            failed[mod.name] = repr(exc)
        count += 1
        now = state()
        if now != was:
            changed[mod.name] = {k: [was[k], now[k]] for k in now if now[k] != was[k]}
    print(json.dumps({"before": before, "after": state(), "changed": changed, "failed": failed, "count": count}))
    """
)


def test_importing_every_module_leaves_interpreter_state_alone() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, env=_ENV, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["count"] > 100, report  # really walked the package
    assert report["changed"] == {}, report["changed"]
    assert report["after"] == report["before"]
    assert report["before"]["recursion_limit"] == 1000
    # The reserves EVM code (the module that used to leak) really was imported and is usable.
    assert "bastion.por.reserves.evm" not in report["failed"], report["failed"]


def test_the_guard_is_what_keeps_the_limit() -> None:
    """eth-account imported on its own still raises the limit (so the probe above can see such a leak); through
    the reserves EVM module it does not, and the module still signs and recovers as before."""
    raw = "import sys\nimport eth_account\nprint(sys.getrecursionlimit())"
    out = subprocess.run(
        [sys.executable, "-c", raw], capture_output=True, text=True, timeout=120, env=_ENV, check=True
    )
    assert out.stdout.strip() == "100000"
    ours = textwrap.dedent(
        """
        import sys
        from bastion.por.reserves import evm
        sig = evm.sign_eip191(b"\\x01" * 32, "bastion")
        signer = evm.key_hash(evm.recover_signer(evm.eip191_hash("bastion"), sig))
        print(sys.getrecursionlimit(), len(signer))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", ours], capture_output=True, text=True, timeout=120, env=_ENV, check=True
    )
    assert out.stdout.split() == ["1000", "20"]

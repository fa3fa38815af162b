"""A stand-in for the ``spaces`` package's ZeroGPU decorator, for the tests only (never installed).

It reproduces the contract of ``spaces/zero/wrappers.py`` and ``client.py`` on the CPU:

- ``@spaces.GPU`` runs each call in a worker process from multiprocessing's 'fork' context. The
  arguments travel pickled, and the return value (or the exception) comes back pickled. Whatever
  the call changes in its process (a cache, a store of images) dies with the worker, so the server
  never sees it.
- In the server process no model may run: importing this module makes ``torch.nn.Module.__call__``
  raise :class:`ModelInServerError` there (on ZeroGPU the server has no GPU to run it on).
- Every call asks for a duration: a number of seconds, or a callable that gets the call's own
  arguments (as the real ``duration=`` does). A call that asks for none (the real client would
  request its default of 60 s) or for more than :data:`MAX_REQUEST_S` is refused with
  :class:`DurationError`: this app's steps take seconds, and a long request costs the visitor.
- Each visitor has a quota (:data:`QUOTA_S`, ``ZEROGPU_STANDIN_QUOTA``; 120 s, what a visitor
  without an account gets a day), charged like the real client: the request times
  :data:`DURATION_FACTOR` must fit in what is left (requests running at the same time count as
  taken), else the call is refused with the real client's message; the time the call took is
  what is billed. The visitor is the ``X-IP-Token`` header (the real client's key), or the
  session without one. ``ZEROGPU_STANDIN_SPENT="visitor=seconds,..."`` starts visitors with quota
  already spent. Each call prints one line to stderr (the server's log).

The real package keeps a worker alive between calls; this one forks afresh for every call, which
is stricter: no state can survive from one call to the next even by accident.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import pickle
import sys
import threading
import time

import torch

__all__ = ["GPU", "DurationError", "ModelInServerError", "left"]

_FORK = multiprocessing.get_context("fork")
_in_worker = False
_module_call = torch.nn.Module.__call__

QUOTA_S = float(os.environ.get("ZEROGPU_STANDIN_QUOTA", "120"))
MAX_REQUEST_S = 20
DURATION_FACTOR = 1.5  # spaces/zero/configs.json: "large" requests on the current GPUs
_spent: dict[str, float] = {
    k: float(v) for k, v in (kv.split("=") for kv in os.environ.get("ZEROGPU_STANDIN_SPENT", "").split(",") if kv)
}
_reserved: dict[str, float] = {}
_lock = threading.Lock()


class ModelInServerError(RuntimeError):
    """A model ran in the server process instead of inside an ``@spaces.GPU`` call."""


class DurationError(RuntimeError):
    """A call asked for no duration, or for more than MAX_REQUEST_S: a bug of the app, not the visitor."""


def _guarded_call(self, *args, **kwargs):
    if not _in_worker:
        raise ModelInServerError(
            f"{type(self).__name__} ran in the server process: on ZeroGPU models run only inside @spaces.GPU"
        )
    return _module_call(self, *args, **kwargs)


torch.nn.Module.__call__ = _guarded_call


def _work(conn, fn, payload: bytes) -> None:
    global _in_worker
    _in_worker = True
    args, kwargs = pickle.loads(payload)
    try:
        result = ("ok", fn(*args, **kwargs))
    except BaseException as e:  # sent back and raised in the server, as spaces does
        result = ("error", e)
    try:
        data = pickle.dumps(result)
    except Exception as e:
        data = pickle.dumps(("error", RuntimeError(f"the GPU function's result could not be pickled: {e}")))
    conn.send_bytes(data)
    conn.close()


def _fork(target, args) -> multiprocessing.Process:
    """A started worker. filelock (which huggingface_hub uses) refuses a fork while another thread is
    taking a lock; this forks for every call, so it waits for that moment to pass and forks again."""
    for _ in range(200):
        worker = _FORK.Process(target=target, args=args, daemon=True)
        try:
            worker.start()
            return worker
        except RuntimeError as e:
            if "filelock" not in str(e):
                raise
            time.sleep(0.02)
    raise RuntimeError("could not fork a GPU worker: filelock kept refusing")


def _visitor() -> str:
    """Whose quota pays: the X-IP-Token header of the Gradio request being served, else its session."""
    try:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    except ImportError:
        request = None
    if request is None:
        return "anonymous"
    token = (getattr(request, "headers", None) or {}).get("x-ip-token")
    return token or f"session:{getattr(request, 'session_hash', None)}"


def left(visitor: str) -> float:
    """Seconds of quota ``visitor`` has left (less what their running calls have reserved)."""
    with _lock:
        return QUOTA_S - _spent.get(visitor, 0.0) - _reserved.get(visitor, 0.0)


def _schedule(visitor: str, requested: int) -> None:
    """Reserve ``requested`` x DURATION_FACTOR of the visitor's quota, or refuse as the real client
    does; then refuse a request over MAX_REQUEST_S (nothing reserved) as this app's bug."""
    need = round(requested * DURATION_FACTOR)
    with _lock:
        rest = QUOTA_S - _spent.get(visitor, 0.0) - _reserved.get(visitor, 0.0)
        if need > rest:
            import gradio as gr

            raise gr.Error(
                f"You have exceeded your GPU quota ({need}s requested vs. {rest:.0f}s left). Try again later.",
                title="ZeroGPU quota exceeded",
                print_exception=False,
            )
        if requested > MAX_REQUEST_S:
            raise DurationError(f"a @spaces.GPU call asked for {requested} s: more than {MAX_REQUEST_S} s")
        _reserved[visitor] = _reserved.get(visitor, 0.0) + need


def _release(visitor: str, requested: int, used: float) -> None:
    """Bill the time the call took, at most what it asked for: ZeroGPU ends a call at its duration, so
    a call never costs more (here, on a busy CPU, a call may run past it: still billed its duration)."""
    with _lock:
        _reserved[visitor] -= round(requested * DURATION_FACTOR)
        _spent[visitor] = _spent.get(visitor, 0.0) + min(used, requested)


def _requested(duration, args, kwargs) -> int:
    value = duration(*args, **kwargs) if callable(duration) else duration
    if value is None:
        raise DurationError("a @spaces.GPU call asked for no duration: the real client would request 60 s")
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    if not (math.isfinite(seconds) and seconds >= 1):
        raise DurationError(f"a @spaces.GPU call asked for {seconds:g} s")
    return int(seconds)  # the real client sends whole seconds (timedelta.seconds)


def GPU(fn=None, *, duration=None, size=None):  # noqa: N802 (the real decorator's name)
    """``@spaces.GPU(duration=...)``: run the call in a forked worker, charged to the visitor's quota."""
    if fn is None:
        return functools.partial(GPU, duration=duration, size=size)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if _in_worker:
            return fn(*args, **kwargs)
        requested = _requested(duration, args, kwargs)
        visitor = _visitor()
        _schedule(visitor, requested)
        t0 = time.perf_counter()
        try:
            payload = pickle.dumps((args, kwargs))
            recv, send = _FORK.Pipe(duplex=False)
            worker = _fork(_work, (send, fn, payload))
            send.close()
            try:
                status, value = pickle.loads(recv.recv_bytes())
            except EOFError:
                raise RuntimeError("GPU task aborted") from None
            finally:
                worker.join()
        finally:
            used = time.perf_counter() - t0
            _release(visitor, requested, used)
            print(f"zerogpu stand-in: {fn.__name__} requested {requested} s, took {used:.2f} s; "
                  f"{left(visitor):.1f} s left", file=sys.stderr, flush=True)  # fmt: skip
        if status == "error":
            raise value
        return value

    return call

"""A stand-in for the ``spaces`` package's ZeroGPU decorator, for the tests only (never installed).

It reproduces the contract of ``spaces/zero/wrappers.py`` on the CPU:

- ``@spaces.GPU`` runs each call in a worker process from multiprocessing's 'fork' context. The
  arguments travel pickled, and the return value (or the exception) comes back pickled. Whatever
  the call changes in its process (a cache, a store of images) dies with the worker, so the server
  never sees it.
- In the server process no model may run: importing this module makes ``torch.nn.Module.__call__``
  raise :class:`ModelInServerError` there (on ZeroGPU the server has no GPU to run it on).

The real package keeps a worker alive between calls; this one forks afresh for every call, which
is stricter: no state can survive from one call to the next even by accident.
"""

from __future__ import annotations

import functools
import multiprocessing
import pickle

import torch

__all__ = ["GPU", "ModelInServerError"]

_FORK = multiprocessing.get_context("fork")
_in_worker = False
_module_call = torch.nn.Module.__call__


class ModelInServerError(RuntimeError):
    """A model ran in the server process instead of inside an ``@spaces.GPU`` call."""


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


def GPU(fn=None, *, duration=None):  # noqa: N802 (the real decorator's name)
    """``@spaces.GPU`` or ``@spaces.GPU(duration=...)``: run the call in a forked worker."""
    if fn is None:
        return functools.partial(GPU, duration=duration)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if _in_worker:
            return fn(*args, **kwargs)
        payload = pickle.dumps((args, kwargs))
        recv, send = _FORK.Pipe(duplex=False)
        worker = _FORK.Process(target=_work, args=(send, fn, payload), daemon=True)
        worker.start()
        send.close()
        try:
            status, value = pickle.loads(recv.recv_bytes())
        except EOFError:
            raise RuntimeError("GPU task aborted") from None
        finally:
            worker.join()
        if status == "error":
            raise value
        return value

    return call

"""Read a PyTorch state dict saved in the legacy (non-zip) ``torch.save`` format, without torch.

Pretrained weights often ship only as ``.pth`` files, and torch is a large
dependency we do not want. The legacy format is simple: a few small pickles
(magic number, protocol version, system info), the main pickle with the state
dict whose tensors point at storages by key, a pickle listing the storage keys,
then each storage in that order as an 8-byte little-endian element count
followed by its raw little-endian data.

Unpickling runs code named by the file, so :class:`_Unpickler` only resolves
the handful of names a state dict needs and refuses every other global.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from os import PathLike
from typing import Any, BinaryIO

import numpy as np

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001

#: Storage classes torch writes, and the little-endian dtype of their data.
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "<i1",
    "ByteStorage": "<u1",
    "BoolStorage": "<b1",
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file asked for a global that a plain state dict never needs."""


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_STORAGE_DTYPES[self.name])


@dataclass
class _Storage:
    dtype: np.dtype
    size: int
    data: np.ndarray | None = None  # filled once the raw bytes after the pickles are read


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> np.ndarray:
        """Copy the tensor's elements out of its storage, refusing views that reach past its end."""
        if any(side == 0 for side in self.shape):
            return np.zeros(self.shape, self.storage.dtype)
        reach = sum((side - 1) * step for side, step in zip(self.shape, self.stride, strict=True))
        last = self.offset + reach
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= self.storage.size:
            raise pickle.UnpicklingError(f"Tensor view {self} reaches outside its storage.")
        data = self.storage.data
        itemsize = data.itemsize
        strides = tuple(step * itemsize for step in self.stride)
        view = np.lib.stride_tricks.as_strided(data[self.offset :], self.shape, strides, writeable=False)
        return view.copy()


def _rebuild_tensor_v2(
    storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``; the trailing grad/hook arguments are ignored."""
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """An unpickler that knows tensors and storages and refuses every other global."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(
            f"Refusing to load global {module}.{name}: only tensors, storages and OrderedDict are allowed."
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"Unsupported persistent id {pid!r}.")
        _, storage_type, key, _location, size, *view = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"Unknown storage type {storage_type!r}.")
        if view and view[0] is not None:
            raise pickle.UnpicklingError("Storage views (torch < 0.4 files) are not supported.")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(size))
        return self.storages[key]


def _read_storage(file: BinaryIO, storage: _Storage) -> None:
    count = int.from_bytes(file.read(8), "little")
    if count != storage.size:
        raise pickle.UnpicklingError(f"Storage holds {count} elements, the tensors expect {storage.size}.")
    raw = file.read(count * storage.dtype.itemsize)
    if len(raw) != count * storage.dtype.itemsize:
        raise pickle.UnpicklingError("File ends inside a storage: it is truncated.")
    storage.data = np.frombuffer(raw, storage.dtype)


def read_legacy_state_dict(path: str | PathLike[str]) -> dict[str, np.ndarray]:
    """Load a legacy ``torch.save`` state dict as ``{name: numpy array}`` without importing torch."""
    with open(path, "rb") as stream:
        header = [_Unpickler(stream).load() for _ in range(3)]
        if header[0] != _MAGIC_NUMBER or header[1] != _PROTOCOL_VERSION:
            raise pickle.UnpicklingError(
                f"{path} is not a legacy torch.save file (zip files from torch >= 1.6 are not supported)."
            )
        if not header[2].get("little_endian", True):
            raise pickle.UnpicklingError(f"{path} was saved on a big-endian machine.")
        unpickler = _Unpickler(stream)
        state = unpickler.load()
        keys = _Unpickler(stream).load()
        if set(keys) != set(unpickler.storages):
            raise pickle.UnpicklingError(f"{path}: the storage list does not match the tensors.")
        for key in keys:
            _read_storage(stream, unpickler.storages[key])
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"{path} holds a {type(state).__name__}, not a state dict.")
    return {name: value.to_numpy() for name, value in state.items() if isinstance(value, _TensorRef)}

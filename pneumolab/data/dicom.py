"""DICOM files for the one image reader: with or without their preamble, in display values, as uint8.

:func:`looks_like_dicom` tells a DICOM stream by its marker or its first data
elements (a bare stream only when the file is also named ``.dcm``);
:func:`read_dicom` reads its first frame, rescaled and windowed as the file
recommends, 0 = black. Used by :func:`pneumolab.data.reader.load_image`;
pydicom is imported only when a DICOM file is read.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Sequence

import numpy as np

from pneumolab.data.image import MAX_PIXELS, ImageError, LoadedImage, to_uint8, too_large

_DICOM_MARKER = b"DICM"
_PREAMBLE = 128
#: First tags of a DICOM stream that lost its preamble: the file meta group (0002) or a data set (0008).
_BARE_DICOM_STARTS = (b"\x02\x00", b"\x08\x00")
#: The file meta group's length element, (0002,0000) UL: unmistakably DICOM, whatever the file's name.
_META_GROUP_LENGTH = b"\x02\x00\x00\x00UL"
#: ``warnings.catch_warnings`` is process-wide: DICOM reads, which record pydicom's warnings, take turns.
_DICOM_LOCK = threading.Lock()


def looks_like_dicom(content: bytes, name: str = "") -> bool:
    """True for a DICOM file: its 'DICM' marker after the preamble or at the start, its file meta
    group's length element, or (for a file named ``.dcm``) a first DICOM tag."""
    return content[_PREAMBLE : _PREAMBLE + 4] == _DICOM_MARKER or content.startswith(
        (_DICOM_MARKER, _META_GROUP_LENGTH)
    ) or (content.startswith(_BARE_DICOM_STARTS) and name.lower().endswith(".dcm"))


def read_dicom(content: bytes) -> LoadedImage:
    """The first frame of a DICOM file (see :func:`looks_like_dicom`); raises :class:`ImageError`."""
    if content[_PREAMBLE : _PREAMBLE + 4] == _DICOM_MARKER:
        return _read_dicom(content)
    return _read_bare_dicom(content)


def _read_bare_dicom(content: bytes) -> LoadedImage:
    """A DICOM stream without the 128-byte preamble (and perhaps without the 'DICM' marker or file meta).

    The missing parts are put back where they are certain (a file meta group
    that is present); a bare data set is read with pydicom's ``force=True``
    only because it starts with a DICOM tag, and only if it holds an image.
    """
    if content.startswith(_DICOM_MARKER):
        image = _read_dicom(bytes(_PREAMBLE) + content)
        note = "The DICOM file lacks its 128-byte preamble; read without it."
    elif content.startswith(b"\x02\x00"):  # file meta group, without preamble and marker
        image = _read_dicom(bytes(_PREAMBLE) + _DICOM_MARKER + content)
        note = "The DICOM file lacks its 128-byte preamble and 'DICM' marker; read without them."
    else:
        image = _read_dicom(content, bare=True)
        note = ("The DICOM file has no preamble, 'DICM' marker or file meta information; read as a bare "
                "data set in uncompressed little-endian encoding.")
    return LoadedImage(image.pixels, image.format, image.size, image.mode, (note, *image.notes))


def _read_dicom(content: bytes, bare: bool = False) -> LoadedImage:
    """The first frame of a DICOM file, in display values (rescaled, windowed, 0 = black), as uint8."""
    import pydicom
    from pydicom import pixels as dicom_pixels
    from pydicom import uid

    damaged = ImageError("This DICOM file is damaged: its header cannot be read.")
    try:
        # pydicom warns where it had to guess: recorded, they tell a damaged header from a report
        with _DICOM_LOCK, warnings.catch_warnings(record=True) as complaints:
            warnings.simplefilter("always")
            dataset = pydicom.dcmread(io.BytesIO(content), force=bare)
    except Exception:  # pydicom raises many types for damaged headers
        raise damaged from None
    if bare:
        if not all(keyword in dataset for keyword in ("Rows", "Columns", "PixelData")):
            raise ImageError(
                "The file is named .dcm and starts like DICOM data, but has no 128-byte preamble, no 'DICM' "
                "marker and no readable image (no Rows, Columns and PixelData elements)."
            )
        implicit, little = dataset.original_encoding
        if not little:
            raise ImageError("This bare DICOM data set is big-endian, which the kit cannot read: "
                             "export it as a standard DICOM file.")
        dataset.file_meta = pydicom.dataset.FileMetaDataset()
        syntax = uid.ImplicitVRLittleEndian if implicit else uid.ExplicitVRLittleEndian
        dataset.file_meta.TransferSyntaxUID = syntax
    if "PixelData" not in dataset:
        if complaints:
            raise damaged
        raise ImageError(
            "This DICOM file holds no image (no pixel data): it may be a report or a study summary, "
            "or the file was cut short."
        )
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    if rows * columns > MAX_PIXELS:
        raise too_large(columns, rows)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    if not (photometric.startswith("MONOCHROME") or photometric.startswith(("RGB", "YBR"))):
        raise ImageError(f"DICOM images in {photometric} colour encoding are not supported.")
    try:
        raw = dicom_pixels.pixel_array(dataset, index=0)
    except Exception:  # damaged data, or a compression no installed plugin decodes
        syntax = dataset.file_meta.get("TransferSyntaxUID")
        what = syntax.name if syntax is not None else "unknown encoding"
        raise ImageError(
            f"The DICOM pixel data cannot be decoded ({what}): the file is damaged or compressed "
            "in a way this kit cannot read. Export it uncompressed and try again."
        ) from None
    values = dicom_pixels.apply_rescale(raw, dataset).astype(np.float64)
    pixels = to_uint8(values, _window(dataset) if photometric.startswith("MONOCHROME") else None)
    if photometric == "MONOCHROME1":  # stored with 0 = white
        pixels = 255 - pixels
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    notes = (f"The DICOM file holds {frames} frames; the first one is used.",) if frames > 1 else ()
    return LoadedImage(pixels, "DICOM", (columns, rows), photometric, notes)


def _window(dataset) -> tuple[float, float] | None:
    """The first display window (low, high) the file recommends, if it has one."""
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if center is None or width is None:
        return None
    center, width = (float(v[0]) if isinstance(v, Sequence) else float(v) for v in (center, width))
    return (center - width / 2, center + width / 2) if width > 0 else None

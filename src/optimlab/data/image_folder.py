"""User data as a folder of images, one sub-folder per class: the layout of torchvision's ``ImageFolder``.

``root/cat/001.png``, ``root/dog/xyz.jpg``: the classes are the sorted sub-folder names, class ``i`` the
``i``-th of them (``torchvision.datasets.ImageFolder``'s ``find_classes``). Where ``root`` holds
``train/`` and ``test/`` (and ``val/``, or ``valid/`` or ``validation/``) folders instead, each laid out
so, they are the data set's own splits, as in common data sets: ``test/`` is kept as the test split and validation is drawn from
``train/``; with ``val/`` every split is fixed (without ``test/``: no test split, which the reading
says). The classes are ``train/``'s; another split may lack one (the reading names it), never add one.

Images (PNG, JPEG, BMP, GIF, TIFF, WebP, PPM/PGM) are read with Pillow into float32 tensors
(N, C, H, W) scaled to [0, 1] (8-bit values / 255). Gray images give one channel, colour ones three;
an alpha channel is kept as one more channel where some pixel is not opaque, and dropped (nothing
lost) where every pixel is; a palette image is read as the colours it shows (RGB, or RGBA with a
transparent colour). Where modes are mixed, every image takes the richest (gray replicated into
red, green and blue; an opaque alpha added), which loses nothing. Other modes (16-bit, float, CMYK)
are refused, as are animated images, images of different sizes (unless ``size`` resizes every one,
bilinearly), an empty or damaged file, a class folder without images, a folder without class
folders, and train/ and test/ (or val/) of class folders beside other folders, each naming the file or
folder (a train/ of images is a class). Files and folders whose names start with a dot are not
data; other files that are not images are skipped, and the reading says how many.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optimlab.data.examples import DatasetInfo, Examples, TensorPair, listed_label
from optimlab.data.splits import SPLIT_NAMES, Splits
from optimlab.errors import InvalidValueError
from optimlab.models.sizing import device_memory
from optimlab.number_text import count_of, named_and_more
from optimlab.registry import plain_numbers
from optimlab.user_paths import expand_home

__all__ = [
    "IMAGE_SUFFIXES",
    "image_pixels",
    "images_array",
    "is_image_folder",
    "load_image_folder",
    "modes_read",
]

IMAGE_SUFFIXES = frozenset(
    (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
)
# Pillow mode -> the mode it is read in (8 bits a channel); anything else is refused
_MODES = {"1": "L", "L": "L", "LA": "LA", "P": "RGB", "PA": "RGBA", "RGB": "RGB", "RGBA": "RGBA"}
_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_SHOWN_CLASSES = 6  # class names the reading lists before "..."
_SHOWN_SKIPPED = 2  # names of the files skipped, not images, the reading lists before "and N more"


def _visible(entries: Sequence[Path]) -> list[Path]:
    return sorted(e for e in entries if not e.name.startswith("."))


def is_image_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with a sub-folder (a class's, or a split's) to read images from."""
    return path.is_dir() and any(e.is_dir() for e in _visible(list(path.iterdir())))


@dataclasses.dataclass
class _Found:
    """The image files of one split folder, by class, and the files skipped."""

    classes: list[str]
    files: list[tuple[Path, str]]  # (file, class name), classes in order
    skipped: list[Path]


def _find(folder: Path, where: str) -> _Found:
    entries = _visible(list(folder.iterdir()))
    classes = [e.name for e in entries if e.is_dir()]
    skipped = [e for e in entries if not e.is_dir()]
    if not classes:
        images = [e for e in skipped if e.suffix.lower() in IMAGE_SUFFIXES]
        raise InvalidValueError(
            f"image folder {where}",
            f"{len(images)} images and no sub-folder" if images else "no sub-folder",
            "one sub-folder per class holding its images (cat/1.png, dog/2.png), as torchvision's ImageFolder reads",
        )
    files = []
    for name in classes:
        inside = sorted(
            f
            for f in (folder / name).rglob("*")
            if not any(part.startswith(".") for part in f.relative_to(folder / name).parts)
        )  # under a hidden folder (.thumbnails/, .ipynb_checkpoints/) is no data either
        images = [f for f in inside if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        skipped += [f for f in inside if f.is_file() and f.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            raise InvalidValueError(
                f"class folder {str(folder / name)!r}",
                "no images",
                "PNG, JPEG, BMP, GIF, TIFF, WebP or PPM/PGM files in every class folder",
            )
        files += [(image, name) for image in images]
    return _Found(classes, files, skipped)


def image_pixels(image: Any, where: str, size: tuple[int, int] | None = None) -> tuple[np.ndarray, str]:
    """An open Pillow image (``where`` names it) as uint8 (H, W, C) and the mode it is read in, resized
    to ``size`` (height, width) where given; an animation, or a mode of more than 8 bits a channel, is
    refused."""
    from PIL import Image

    if getattr(image, "n_frames", 1) > 1:
        raise InvalidValueError(
            f"image {where}", f"{image.n_frames} frames", "one frame (an animation is no image)"
        )
    if image.mode not in _MODES:
        raise InvalidValueError(
            f"image mode of {where}",
            image.mode,
            "8-bit gray, colour or palette images (Pillow modes " + ", ".join(_MODES) + ")",
        )
    mode = _MODES[image.mode]
    if image.mode == "P" and "transparency" in image.info:
        mode = "RGBA"
    image = image.convert(mode)  # reads the whole file, so a damaged one fails here
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if mode.endswith("A") and (pixels[:, :, -1] == 255).all():  # opaque: the alpha says nothing
        pixels, mode = pixels[:, :, :-1], mode[:-1]
    return pixels, mode


def _read(file: Path, size: tuple[int, int] | None) -> tuple[tuple[np.ndarray, str], str]:
    """The image at ``file`` as :func:`image_pixels` reads it, and its mode as Pillow opens it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            return image_pixels(image, repr(str(file)), size), image.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, InvalidValueError):
            raise
        raise InvalidValueError(
            f"image file {str(file)!r}", f"unreadable ({error})", "a whole image file that Pillow opens"
        ) from None


def richest_mode(modes: Collection[str]) -> str:
    """The mode that every one of ``modes`` converts to without loss."""
    modes = set(modes)
    colour = "RGB" if modes & {"RGB", "RGBA"} else "L"
    return colour + ("A" if modes & {"LA", "RGBA"} else "")


def _to_mode(pixels: np.ndarray, mode: str, target: str, opaque: float = 255) -> np.ndarray:
    """``pixels`` (..., C) of ``mode`` in ``target``: gray replicated into three channels, an alpha of
    ``opaque`` added."""
    colour = pixels[..., :3] if mode.startswith("RGB") else pixels[..., :1]
    alpha = pixels[..., -1:] if mode.endswith("A") else np.full_like(pixels[..., :1], opaque)
    if target.startswith("RGB"):
        colour = np.broadcast_to(colour, (*colour.shape[:-1], 3))
    return np.concatenate([colour, alpha], axis=-1) if target.endswith("A") else colour


def images_in_mode(images: np.ndarray, modes: Collection[str], target: str) -> np.ndarray:
    """Images (N, C, H, W) as :func:`images_array` read them, in the richest of ``modes``, in the mode
    ``target``, as rich or richer: what images_array gives where ``target`` is their richest."""
    channels_last = images.transpose(0, 2, 3, 1)
    return _to_mode(channels_last, richest_mode(modes), target, opaque=1.0).transpose(0, 3, 1, 2)


RESIZE = "or resize every one with the option size: [HEIGHT, WIDTH] (data.options.size in a recipe)"


def images_array(
    read: Sequence[tuple[np.ndarray, str]], names: Sequence[str], resize: str = RESIZE
) -> np.ndarray:
    """Images as :func:`image_pixels` reads them, as one float32 array (N, C, H, W) in [0, 1] (8-bit
    values / 255, as torchvision's ``ToTensor``), each in the richest of their modes; images of two sizes
    are refused, naming them (``names``, one for each) and how to ``resize`` them."""
    first_pixels, first_name = read[0][0], names[0]
    for (pixels, _), name in zip(read, names):
        if pixels.shape[:2] != first_pixels.shape[:2]:
            (h1, w1), (h2, w2) = first_pixels.shape[:2], pixels.shape[:2]
            raise InvalidValueError(
                f"image size of {name}",
                f"{w2}x{h2}",
                f"{w1}x{h1} (width x height) as {first_name}: images of one size; {resize}",
            )
    target = richest_mode({mode for _, mode in read})
    stacked = np.stack([_to_mode(pixels, mode, target) for pixels, mode in read])
    return stacked.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def modes_read(modes: Sequence[str], own: Sequence[str]) -> str:
    """``"3 of 7 images, of modes L, RGB, read as RGBA"``: where images of mixed ``modes`` (as
    :func:`image_pixels` reads them) are all read in the richest (:func:`richest_mode`), how many have
    another mode of their ``own`` (as Pillow opens each file: an opaque RGBA is RGBA) and which, else
    ``""``: a model then takes that many channels, where the user may expect each image's own."""
    if len(set(modes)) < 2:
        return ""
    target = richest_mode(set(modes))
    converted = [mode for mode in own if mode != target]
    named = sorted(set(converted))
    return (
        f"{len(converted)} of {len(own)} images, of mode{'s' * (len(named) > 1)} {', '.join(named)}, "
        f"read as {target}"
    )


def _images(found: list[_Found], size: tuple[int, int] | None) -> tuple[list[np.ndarray], str]:
    """Every split's images as one float32 array (N, C, H, W) in [0, 1], split by split, and what their
    mixed modes were read as (:func:`modes_read`)."""
    files = [file for split in found for file, _ in split.files]
    read, own = zip(*(_read(file, size) for file in files))
    images = images_array(read, [repr(str(file)) for file in files])
    splits = np.split(images, np.cumsum([len(split.files) for split in found])[:-1])
    return splits, modes_read([mode for _, mode in read], own)


def _size(size: int | Sequence[int] | None, where: str) -> tuple[int, int] | None:
    if size is None:
        return None
    size = plain_numbers(size)  # NumPy's integers (np.int64(28)) too
    pair = (size, size) if isinstance(size, int) else tuple(size) if isinstance(size, (list, tuple)) else ()
    if len(pair) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in pair):
        raise InvalidValueError(
            f"size of {where} (data.options.size)",
            size,
            "a positive whole number, or [HEIGHT, WIDTH] of them",
        )
    return pair


def _check_fits(count: int, resize: tuple[int, int], size: Any, where: str) -> None:
    """Refuse a ``size`` whose ``count`` images, float32 of one channel at least, take more than the
    machine's memory: each was resized first (minutes for a typo, 22400 for 224) before its allocation
    failed or the machine swapped."""
    needed, memory = count * resize[0] * resize[1] * 4, device_memory(torch.device("cpu"))
    if needed > memory:
        raise InvalidValueError(
            f"size of {where} (data.options.size)",
            size,
            f"a size whose {count} images fit in memory: as float32 they take at least "
            f"{needed / 2**30:,.1f} GiB, more than this machine's {memory / 2**30:,.1f} GiB",
        )


def _split_folders(named: dict[str, Path], where: str) -> dict[str, Path]:
    """The folder of each split, in :data:`~optimlab.data.splits.SPLIT_NAMES`' order, where ``named`` (the
    folders in ``where``, by lower-case name) holds train/ of sub-folders and nothing but split folders;
    else none (then a train/ beside other folders is a class: trains, cars, buses; so is a train/ of
    images alone, beside test/ and car/). train/ beside another split's folder and others is refused:
    read as classes, each split's class folders were merged into one class, and the model learnt which
    split an image came from."""
    split_of = {name: split for split, names in SPLIT_NAMES.items() for name in names}
    if "train" not in named or not is_image_folder(named["train"]):  # no sub-folder: a class's images
        return {}
    others = sorted(named[name].name for name in set(named) - set(split_of))
    if others and len({split_of[name] for name in set(named) & set(split_of)}) > 1:
        raise InvalidValueError(
            f"folders of {where}",
            ", ".join(f"{name}/" for name in others),
            "train/ and test/ (and val/) alone, each of class folders, or class folders alone: move "
            "the others out",
        )
    if others:
        return {}
    folders = {}
    for split, names in SPLIT_NAMES.items():
        given = [named[name] for name in names if name in named]
        if len(given) > 1:
            raise InvalidValueError(
                f"{'validation' if split == 'val' else split} folders of {where}",
                " and ".join(f"{folder.name}/" for folder in given),
                "one of " + ", ".join(f"{name}/" for name in names),
            )
        if given:
            folders[split] = given[0]
    return folders


def load_image_folder(
    path: str | os.PathLike[str], *, size: int | Sequence[int] | None = None
) -> Examples | Splits:
    """The labelled images under the folder ``path`` (see the module's description); ``size`` (an int,
    or ``[height, width]``) resizes every image to it.

    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name, value in (("dark", 0), ("light", 255)):
    ...     (root / name).mkdir()
    ...     Image.new("L", (4, 4), value).save(root / name / "a.png")
    >>> data = load_image_folder(root)
    >>> data.image_shape, data.num_classes, data.examples.y.tolist()
    ((1, 4, 4), 2, [0, 1])
    """
    root = expand_home(path, "image folder")
    where = repr(str(path))
    if not root.is_dir():
        raise InvalidValueError("image folder", str(path), "an existing folder")
    resize = _size(size, where)
    folders = _split_folders({e.name.lower(): e for e in _visible(list(root.iterdir())) if e.is_dir()}, where)
    splits = list(folders)
    found = [_find(folders[s], repr(str(folders[s]))) for s in splits] if splits else [_find(root, where)]
    classes = found[0].classes
    for split, seen in zip(splits[1:], found[1:]):
        extra = sorted(set(seen.classes) - set(classes))
        if extra:
            raise InvalidValueError(
                f"class folders of {str(folders[split])!r}",
                ", ".join(map(listed_label, extra)),
                f"classes of train/: {', '.join(map(listed_label, classes))}",
            )
    if len(classes) < 2:
        raise InvalidValueError(
            f"image folder {where}",
            f"1 class folder ({classes[0]})",
            "one sub-folder per class, at least two",
        )
    if resize is not None:
        _check_fits(sum(len(split.files) for split in found), resize, size, where)
    images, modes = _images(found, resize)
    labels = [np.array([classes.index(name) for _, name in split.files]) for split in found]
    shown = ", ".join(map(listed_label, classes[:_SHOWN_CLASSES])) + (
        ", ..." if len(classes) > _SHOWN_CLASSES else ""
    )
    reading = f"classes from the folders {shown}"
    if resize is not None:
        reading += f"; resized to {resize[0]}x{resize[1]}"
    if modes:
        reading += f"; {modes}"
    if splits:
        reading += "; split by its " + ", ".join(f"{folders[s].name}/" for s in splits) + " folders"
        if "val" in splits and "test" not in splits:  # fixed splits: none is drawn for test
            reading += ", no test split (no test/ folder)"
        for split, seen in zip(splits[1:], found[1:]):
            if missing := [c for c in classes if c not in seen.classes]:
                reading += f"; {folders[split].name}/ has no {', '.join(missing[:_SHOWN_CLASSES])}"
    skipped = [f for split in found for f in split.skipped]
    if skipped:
        names = named_and_more([f.name for f in skipped], _SHOWN_SKIPPED)
        reading += f"; {count_of(len(skipped), 'other file')} skipped, not images ({names})"
    data = Examples.from_arrays(
        images[0],
        labels[0],
        name=root.name,
        task="classification",
        image_shape=tuple(images[0].shape[1:]),
        reading=reading,
    )
    parts = {
        s: TensorPair(torch.from_numpy(x), torch.from_numpy(y)) for s, x, y in zip(splits, images, labels)
    }
    if "val" in parts:
        info = {f.name: getattr(data, f.name) for f in dataclasses.fields(DatasetInfo)}
        test = parts.get("test", data.examples.subset(torch.arange(0)))
        return Splits(**info, train=data.examples, val=parts["val"], test=test)
    if "test" in parts:
        return dataclasses.replace(data, test=parts["test"])
    return data

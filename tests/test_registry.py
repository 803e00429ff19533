import pytest

from vidray.errors import RegistryError
from vidray.registry import Registry


def make_registry() -> Registry:
    registry = Registry("widgets")

    @registry.register("x3d_s", params=3.8)
    def x3d_s(width: int = 1) -> tuple[str, int]:
        return "x3d_s", width

    @registry.register()
    class X3dM:
        def __init__(self, width: int = 2) -> None:
            self.width = width

    return registry


def test_build_by_name_passes_keyword_arguments():
    assert make_registry().build("x3d_s", width=7) == ("x3d_s", 7)
    assert make_registry().build("X3dM", width=5).width == 5


def test_list_with_wildcards_is_sorted():
    registry = make_registry()
    registry.add("x3d_xs", lambda: None)
    assert registry.list("x3d*") == ["x3d_s", "x3d_xs"]
    assert registry.list() == ["X3dM", "x3d_s", "x3d_xs"]


def test_unknown_name_lists_closest_names():
    with pytest.raises(RegistryError, match=r"unknown widgets entry 'x3d_z'.*did you mean 'x3d_s'"):
        make_registry().get("x3d_z")


def test_taking_a_name_twice_is_an_error():
    registry = make_registry()
    with pytest.raises(RegistryError, match="already taken"):
        registry.add("x3d_s", lambda: None)


def test_metadata_travels_with_the_entry():
    assert make_registry().metadata("x3d_s") == {"params": 3.8}


def test_plugins_load_from_the_entry_point_group(tmp_path, monkeypatch):
    dist = tmp_path / "vidray_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vidray-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vidray.widgets]\nfrom_plugin = vidray_plugin_demo:make\n")
    (tmp_path / "vidray_plugin_demo.py").write_text("def make(size=1):\n    return ('plugin', size)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = make_registry()
    assert "from_plugin" in registry.list()
    assert registry.build("from_plugin", size=3) == ("plugin", 3)

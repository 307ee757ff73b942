"""A regular (non-editable) install carries every subpackage under the operando namespace only."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_maps_the_card_folders_under_operando(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("operando-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("operando/engine/cli.py", "operando/devices/confocal.py", "operando/plans/zstack.py",
                   "operando/analysis/volume.py", "operando/analysis/data/tpef_calibration.csv",
                   "operando/ioc/apd.py", "operando/ioc/cell/optics.py"):
        assert module in names
    top_level = {n.split("/")[0] for n in names if not n.startswith("operando-")}
    assert top_level == {"operando"}
    entry_points = [n for n in names if n.endswith("entry_points.txt")]
    assert b"operando = operando.engine.cli:main" in zipfile.ZipFile(wheel).read(entry_points[0])

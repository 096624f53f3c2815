"""A careless user's paths and fault specs get a message and exit 2, never a traceback."""
from host_tools.cli import main


def test_build_image_into_a_missing_folder(tmp_path, capsys):
    out = tmp_path / "missing" / "fw.bin"
    rc = main(["build-image", "-o", str(out), "--version", "1.2.3", "--include", "firmware/core/clock.py"])
    assert rc == 2
    assert "cannot write" in capsys.readouterr().err
    assert not out.exists()


def test_keys_generate_into_an_unwritable_place(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["keys", "generate", "--dir", str(blocker / "keys")])
    assert rc == 2
    assert "cannot write keys" in capsys.readouterr().err


def test_sim_rejects_a_bad_fault_before_opening_any_bus(capsys):
    # the channel points at nothing: the fault spec must be refused first
    rc = main(["sim", "--fault", "garbage", "--duration", "1", "-c", "ws://127.0.0.1:1/"])
    assert rc == 2
    assert "--fault must be" in capsys.readouterr().err
